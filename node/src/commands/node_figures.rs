//! What `bench` reads from every node's `/metrics` before and after its load: resident memory
//! (issue 13: memory stays flat under sustained load) and the view changes each node started
//! (a correct but busy primary is never voted out).

use crate::commands::client::Client;
use std::sync::Arc;

/// One node's figures at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeFigures {
    /// `bftledger_resident_memory_bytes`, if the node reports it.
    pub resident_bytes: Option<u64>,
    /// The sum of `bftledger_view_changes_total` over its reasons.
    pub view_changes: u64,
}

impl NodeFigures {
    /// Reads the figures from a Prometheus text exposition; absent metrics count as unknown
    /// memory and zero view changes.
    pub fn parse(text: &str) -> NodeFigures {
        let mut figures = NodeFigures::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((name, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            if name == "bftledger_resident_memory_bytes" {
                figures.resident_bytes = Some(value as u64);
            } else if name.starts_with("bftledger_view_changes_total") {
                figures.view_changes += value as u64;
            }
        }
        figures
    }
}

/// Every node's figures now (`None` for a node that did not answer).
pub async fn read(clients: &[Arc<Client>]) -> Vec<Option<NodeFigures>> {
    let mut all = Vec::with_capacity(clients.len());
    for client in clients {
        let text = client.get_text("/metrics").await.ok();
        all.push(text.as_deref().map(NodeFigures::parse));
    }
    all
}

/// The report's `nodes` entry: per node, resident memory at start and end (MiB) and its
/// growth in percent, and the view changes it started during the load.
pub fn report(start: &[Option<NodeFigures>], end: &[Option<NodeFigures>]) -> serde_json::Value {
    let mib = |b: u64| (b as f64 / (1 << 20) as f64 * 10.0).round() / 10.0;
    let nodes: Vec<serde_json::Value> = start
        .iter()
        .zip(end)
        .map(|(s, e)| {
            let (s, e) = (s.unwrap_or_default(), e.unwrap_or_default());
            let growth = match (s.resident_bytes, e.resident_bytes) {
                (Some(a), Some(b)) if a > 0 => {
                    Some(((b as f64 - a as f64) / a as f64 * 1000.0).round() / 10.0)
                }
                _ => None,
            };
            serde_json::json!({
                "rss_start_mib": s.resident_bytes.map(mib),
                "rss_end_mib": e.resident_bytes.map(mib),
                "rss_growth_percent": growth,
                "view_changes": e.view_changes.saturating_sub(s.view_changes),
            })
        })
        .collect();
    serde_json::Value::Array(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_come_from_the_exposition() {
        let text = "# HELP bftledger_resident_memory_bytes Resident memory\n\
                    bftledger_resident_memory_bytes 104857600\n\
                    bftledger_view_changes_total{reason=\"timeout\"} 2\n\
                    bftledger_view_changes_total{reason=\"primary_faulty\"} 1\n\
                    bftledger_view 3\n";
        let f = NodeFigures::parse(text);
        assert_eq!(f.resident_bytes, Some(100 << 20));
        assert_eq!(f.view_changes, 3);
        assert_eq!(
            NodeFigures::parse("garbage\nno value here\n"),
            NodeFigures::default()
        );
    }

    #[test]
    fn the_report_gives_growth_and_view_changes_during_the_load() {
        let at = |mib: u64, vc| {
            Some(NodeFigures {
                resident_bytes: Some(mib << 20),
                view_changes: vc,
            })
        };
        let r = report(&[at(100, 1), None], &[at(110, 3), at(50, 0)]);
        assert_eq!(r[0]["rss_start_mib"], 100.0);
        assert_eq!(r[0]["rss_growth_percent"], 10.0);
        assert_eq!(r[0]["view_changes"], 2);
        assert!(r[1]["rss_growth_percent"].is_null(), "no start figure: {r}");
    }
}

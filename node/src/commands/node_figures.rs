//! What `bench` reads from every node's `/metrics` before and after its load: resident memory
//! (issue 13: memory stays flat under sustained load), the view changes each node started
//! (a correct but busy primary is never voted out), and CPU time (CPU per committed transfer
//! compares two binaries on a shared machine better than their rates do).

use crate::commands::client::Client;
use std::sync::Arc;

/// One node's figures at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NodeFigures {
    /// `bftledger_resident_memory_bytes`, if the node reports it.
    pub resident_bytes: Option<u64>,
    /// `bftledger_cpu_seconds`, if the node reports it.
    pub cpu_seconds: Option<f64>,
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
            } else if name == "bftledger_cpu_seconds" {
                figures.cpu_seconds = Some(value);
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

/// CPU seconds all nodes used between `start` and `end`, if every node reported both times.
pub fn cpu_seconds_used(start: &[Option<NodeFigures>], end: &[Option<NodeFigures>]) -> Option<f64> {
    start.iter().zip(end).try_fold(0.0, |sum, (s, e)| {
        Some(sum + (e.as_ref()?.cpu_seconds? - s.as_ref()?.cpu_seconds?).max(0.0))
    })
}

/// The report's `nodes` entry: per node, resident memory at start and end (MiB) and its
/// growth in percent, the view changes it started and the CPU seconds it used during the load.
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
                "cpu_s": cpu_seconds_used(&[Some(s)], &[Some(e)])
                    .map(|c| (c * 100.0).round() / 100.0),
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
                    bftledger_cpu_seconds 12.5\n\
                    bftledger_view 3\n";
        let f = NodeFigures::parse(text);
        assert_eq!(f.resident_bytes, Some(100 << 20));
        assert_eq!(f.cpu_seconds, Some(12.5));
        assert_eq!(f.view_changes, 3);
        assert_eq!(
            NodeFigures::parse("garbage\nno value here\n"),
            NodeFigures::default()
        );
    }

    #[test]
    fn the_report_gives_growth_and_view_changes_during_the_load() {
        let at = |mib: u64, vc, cpu| {
            Some(NodeFigures {
                resident_bytes: Some(mib << 20),
                view_changes: vc,
                cpu_seconds: Some(cpu),
            })
        };
        let r = report(&[at(100, 1, 2.0), None], &[at(110, 3, 9.5), at(50, 0, 1.0)]);
        assert_eq!(r[0]["rss_start_mib"], 100.0);
        assert_eq!(r[0]["rss_growth_percent"], 10.0);
        assert_eq!(r[0]["view_changes"], 2);
        assert_eq!(r[0]["cpu_s"], 7.5);
        assert!(r[1]["rss_growth_percent"].is_null(), "no start figure: {r}");
        assert!(r[1]["cpu_s"].is_null(), "no start figure: {r}");
        let (s, e) = (
            [at(1, 0, 1.0), at(1, 0, 2.0)],
            [at(1, 0, 4.0), at(1, 0, 2.5)],
        );
        assert_eq!(cpu_seconds_used(&s, &e), Some(3.5));
        assert_eq!(
            cpu_seconds_used(&[at(1, 0, 1.0), None], &e),
            None,
            "a node is missing"
        );
    }
}

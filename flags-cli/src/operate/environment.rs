//! The environment label (`production`, `staging`) on every series of the
//! guard's and the sync's metrics, so that environments that share one
//! Prometheus and one Alertmanager stay apart: a rollback in staging mutes
//! staging's rollout alerts only. One value per process, so it adds no
//! series.

use crate::args::Cli;

/// The label's value: `--environment NAME`, else the database's own name
/// (`bot` of `postgres://…/bot`), else none (a flag file on one machine:
/// its series stay as they were, and match bots without the label).
pub fn of(cli: &Cli) -> Option<String> {
    if let Some(name) = &cli.operate.environment {
        return Some(name.clone());
    }
    let url = flags_postgres::DatabaseUrl::parse(cli.fleet.database.as_deref()?).ok()?;
    let name = super::source::database_name(&url);
    // A database name may hold anything; a label value that could not be
    // typed as --environment is left out rather than guessed at.
    crate::args::operate::environment_arg(&name).ok()
}

/// `text` (Prometheus text format) with `environment="NAME"` as the first
/// label of every sample; unchanged without a name.
pub fn labelled(text: String, environment: Option<&str>) -> String {
    let Some(name) = environment else {
        return text;
    };
    // The name is checked by `environment_arg`: nothing in it needs escaping.
    let label = format!("environment=\"{name}\"");
    let mut out = String::with_capacity(text.len() + text.lines().count() * (label.len() + 3));
    for line in text.split_inclusive('\n') {
        if line.starts_with('#') || line.trim().is_empty() {
            out.push_str(line);
            continue;
        }
        match line.find(['{', ' ']) {
            Some(i) if line[i..].starts_with("{}") => {
                out.push_str(&line[..i]);
                out.push('{');
                out.push_str(&label);
                out.push_str(&line[i + 1..]);
            }
            Some(i) if line[i..].starts_with('{') => {
                out.push_str(&line[..=i]);
                out.push_str(&label);
                out.push(',');
                out.push_str(&line[i + 1..]);
            }
            Some(i) => {
                out.push_str(&line[..i]);
                out.push('{');
                out.push_str(&label);
                out.push('}');
                out.push_str(&line[i..]);
            }
            None => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_gets_the_label_and_nothing_else_changes() {
        let text =
            "# HELP a_total A.\n# TYPE a_total counter\na_total{kind=\"x\"} 1\nb 2.5\nc{} 3\n";
        assert_eq!(
            labelled(text.into(), Some("staging")),
            "# HELP a_total A.\n# TYPE a_total counter\na_total{environment=\"staging\",kind=\"x\"} 1\nb{environment=\"staging\"} 2.5\nc{environment=\"staging\"} 3\n"
        );
        assert_eq!(labelled(text.into(), None), text);
    }

    #[test]
    fn the_default_is_the_database_s_name_or_none() {
        use crate::args::Cli;
        let cli = |args: &[&str]| Cli::parse_args(["feature_flags"].iter().chain(args)).unwrap();
        let table: [(&[&str], Option<&str>); 4] = [
            (&["--guard"], None),
            (&["--guard", "--environment", "staging"], Some("staging")),
            (
                &["--guard", "--database", "postgres://flags:pw@db1,db2/prod"],
                Some("prod"),
            ),
            (
                &[
                    "--guard",
                    "--database",
                    "postgres://db1/prod",
                    "--environment",
                    "eu",
                ],
                Some("eu"),
            ),
        ];
        for (args, want) in table {
            assert_eq!(of(&cli(args)).as_deref(), want, "{args:?}");
        }
    }
}

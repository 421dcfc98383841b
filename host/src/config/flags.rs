//! Settings given as flags: one `--flag VALUE` per key of [`KEYS`], added to
//! a command with `#[command(flatten)]`. Values are kept as text and applied
//! by the key itself, last, after the file and the environment.

use clap::{Arg, ArgMatches, Args, Command, FromArgMatches};

use crate::config::keys::KEYS;

/// The settings given on the command line, as (key name, value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigFlags {
    values: Vec<(&'static str, String)>,
}

impl ConfigFlags {
    /// Sets key `name` (e.g. `database.url`) as a flag would.
    pub fn set(&mut self, name: &'static str, value: impl Into<String>) -> &mut Self {
        self.values.retain(|(key, _)| *key != name);
        self.values.push((name, value.into()));
        self
    }

    /// The values given: as parsed from the command line, in table order;
    /// as [`set`](Self::set), in the order set.
    pub fn values(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.values
            .iter()
            .map(|(key, value)| (*key, value.as_str()))
    }
}

impl FromArgMatches for ConfigFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let values = KEYS
            .iter()
            .filter_map(|key| {
                matches
                    .get_one::<String>(key.name)
                    .map(|value| (key.name, value.clone()))
            })
            .collect();
        Ok(Self { values })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for ConfigFlags {
    fn augment_args(command: Command) -> Command {
        KEYS.iter().fold(command, |command, key| {
            command.arg(
                Arg::new(key.name)
                    .long(key.flag)
                    .value_name(key.value_name())
                    .help(key.help_line()),
            )
        })
    }

    fn augment_args_for_update(command: Command) -> Command {
        Self::augment_args(command)
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Debug, Parser)]
    struct Serve {
        #[command(flatten)]
        flags: ConfigFlags,
    }

    #[test]
    fn every_key_is_a_flag() {
        let serve = Serve::try_parse_from([
            "serve",
            "--poll-interval",
            "250ms",
            "--database",
            "sqlite://x.db",
        ])
        .unwrap();
        let given: Vec<_> = serve.flags.values().collect();
        assert_eq!(
            given,
            [
                ("database.url", "sqlite://x.db"),
                ("scheduler.poll_interval", "250ms")
            ]
        );
        let help = Serve::command().render_help().to_string();
        for key in KEYS {
            assert!(help.contains(&format!("--{}", key.flag)), "{help}");
        }
    }
}

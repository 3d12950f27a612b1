//! The exit codes: one table for every command ([`EXIT_CODES`], printed by `levee --help`,
//! every subcommand's help and the README), and the error that carries one ([`Exit`]).

pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_UNREADABLE_INPUT: u8 = 3;
pub const EXIT_DAMAGED_RECORDS: u8 = 4;
pub const EXIT_NOTHING_FOUND: u8 = 5;

/// The exit codes of every command, as `--help` shows them.
pub const EXIT_CODES: &str = "\
Exit codes (the same for every command):
  0  success
  1  the command failed: an output exists (without --force) or is an input, a rules file
     was refused, a file could not be written; for `monitor`, alerts could not be
     delivered or the incident database failed
  2  bad command line: unknown option, bad value, options that do not go together
  3  an input could not be read, is empty, or holds nothing to analyse (no packet, no
     decodable packet, no request); any other inputs were processed
  4  every input was read, but damaged records were skipped or flagged (reported on
     standard error and counted); for `collect`, datagrams were damaged or the kernel
     dropped some
  5  `hunt`: every input was read whole and nothing was found in them (as grep's 1)";

/// An error that ends a command with an exit code of its own from the table ([`EXIT_USAGE`]
/// for a command line that cannot be carried out, [`EXIT_UNREADABLE_INPUT`] for inputs that
/// hold nothing to analyse); every other error exits with [`EXIT_FAILURE`].
#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub message: String,
}

impl Exit {
    /// A bad value or a wrong combination of options: exit code 2, as for clap's errors.
    pub fn usage(message: String) -> anyhow::Error {
        Exit {
            code: EXIT_USAGE,
            message,
        }
        .into()
    }

    /// Nothing could be read, or what was read holds nothing to analyse: exit code 3.
    pub fn no_input(message: String) -> anyhow::Error {
        Exit {
            code: EXIT_UNREADABLE_INPUT,
            message,
        }
        .into()
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// A usage error (exit code 2) as an `anyhow::Error`, from a format string.
#[macro_export]
macro_rules! usage {
    ($($t:tt)*) => {
        $crate::Exit::usage(format!($($t)*))
    };
}

/// Returns a usage error (exit code 2) from the current function.
#[macro_export]
macro_rules! bail_usage {
    ($($t:tt)*) => {
        return Err($crate::usage!($($t)*))
    };
}

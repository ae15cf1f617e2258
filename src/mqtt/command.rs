//! Commands from `<prefix>/cmd/<name>` (with `mqtt.commands = true`): which
//! names there are. Parses; carries out nothing (the daemon's runner does).

/// What a message on `<prefix>/cmd/...` asks for (with `mqtt.commands = true`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// `<prefix>/cmd/restart`.
    Restart,
    /// `<prefix>/cmd/update_check`.
    UpdateCheck,
}

impl Command {
    /// The command `<prefix>/cmd/<name>` asks for; `None` for a name p1ib does
    /// not know.
    pub fn parse(name: &str) -> Option<Command> {
        match name {
            "restart" => Some(Command::Restart),
            "update_check" => Some(Command::UpdateCheck),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_command_names_and_nothing_else() {
        assert_eq!(Command::parse("restart"), Some(Command::Restart));
        assert_eq!(Command::parse("update_check"), Some(Command::UpdateCheck));
        assert_eq!(Command::parse("reboot"), None);
        assert_eq!(Command::parse("restart/now"), None);
        assert_eq!(Command::parse(""), None);
    }
}

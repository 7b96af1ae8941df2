//! The live view of `watch`: redrawn in place on a terminal, appended when it changes
//! otherwise (a pipe or a CI log keeps every state, without escape codes).

use std::io::{self, Write};

#[derive(Debug, Default)]
pub struct Screen {
    live: bool,
    shown: Vec<String>,
}

impl Screen {
    /// `live`: the output is a terminal.
    pub fn new(live: bool) -> Self {
        Self {
            live,
            shown: Vec::new(),
        }
    }

    /// Shows `lines` instead of what is shown; nothing is written when they are the same.
    pub fn draw(&mut self, out: &mut dyn Write, lines: Vec<String>) -> io::Result<()> {
        if lines == self.shown {
            return Ok(());
        }
        if self.live && !self.shown.is_empty() {
            // Cursor up over the previous view, then erase to the end of the screen.
            write!(out, "\x1b[{}A\x1b[J", self.shown.len())?;
        }
        for line in &lines {
            writeln!(out, "{line}")?;
        }
        out.flush()?;
        self.shown = lines;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[&str]) -> Vec<String> {
        text.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_terminal_is_redrawn_in_place() {
        let mut out = Vec::new();
        let mut screen = Screen::new(true);
        screen.draw(&mut out, lines(&["a", "b"])).unwrap();
        screen.draw(&mut out, lines(&["a", "b"])).unwrap();
        screen.draw(&mut out, lines(&["c"])).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "a\nb\n\x1b[2A\x1b[Jc\n");
    }

    #[test]
    fn a_pipe_gets_each_change_once() {
        let mut out = Vec::new();
        let mut screen = Screen::new(false);
        for view in [["1/3"], ["1/3"], ["2/3"]] {
            screen.draw(&mut out, lines(&view)).unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), "1/3\n2/3\n");
    }
}

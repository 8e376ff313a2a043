//! The screen model of a resumable session: a terminal emulator (the `vt100` crate) fed the same
//! bytes as the replay buffer, so that a client too far behind for a replay gets the screen
//! repainted instead. The emulator only reads output: it never answers a query into the shell.

use crate::backend::TermSize;

/// Switches a terminal to its alternate buffer, or back to the primary one (DEC mode 1049).
const ALTERNATE_ON: &[u8] = b"\x1b[?1049h";
const ALTERNATE_OFF: &[u8] = b"\x1b[?1049l";

/// The emulated screen. Scrollback is not kept: a snapshot repaints what is on the screen.
pub struct Screen {
    parser: vt100::Parser,
}

impl Screen {
    pub fn new(size: TermSize) -> Self {
        Self {
            parser: vt100::Parser::new(size.rows, size.cols, 0),
        }
    }

    pub fn process(&mut self, bytes: &[u8]) {
        self.parser.process(bytes);
    }

    pub fn resize(&mut self, size: TermSize) {
        self.parser.screen_mut().set_size(size.rows, size.cols);
    }

    /// Text and escape sequences that repaint the current screen on a terminal of the same size,
    /// whatever it showed before: the buffer in use (primary or alternate), every cell with its
    /// colours and attributes, the cursor's position and visibility, and the input modes
    /// (application keypad and cursor, bracketed paste, mouse reporting).
    pub fn snapshot(&self) -> String {
        let screen = self.parser.screen();
        let mut out = Vec::new();
        out.extend_from_slice(if screen.alternate_screen() {
            ALTERNATE_ON
        } else {
            ALTERNATE_OFF
        });
        out.extend_from_slice(&screen.state_formatted());
        // Cells hold text the emulator decoded, and the sequences are ASCII.
        String::from_utf8_lossy(&out).into_owned()
    }

    /// What the screen shows, as plain text (for tests and diagnostics).
    pub fn contents(&self) -> String {
        self.parser.screen().contents()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(bytes: &[u8]) -> Screen {
        let mut screen = Screen::new(TermSize { cols: 20, rows: 5 });
        screen.process(bytes);
        screen
    }

    #[test]
    fn a_snapshot_repaints_the_screen_it_was_taken_of() {
        let original = fed(b"one\r\ntwo \x1b[1;31mred\x1b[0m\r\n\x1b[?2004h\x1b[4;7Hx");
        let mut repainted = fed(b"something else entirely\r\n\x1b[2;2H");
        repainted.process(original.snapshot().as_bytes());
        let (a, b) = (original.parser.screen(), repainted.parser.screen());
        assert_eq!(a.contents(), b.contents());
        assert_eq!(a.cursor_position(), b.cursor_position());
        assert!(b.bracketed_paste());
        assert!(b.cell(1, 4).unwrap().bold());
        assert_eq!(b.cell(1, 4).unwrap().fgcolor(), vt100::Color::Idx(1));
    }

    #[test]
    fn a_snapshot_of_the_alternate_buffer_switches_to_it_and_back() {
        let alternate = fed(b"shell$ \x1b[?1049h\x1b[H\x1b[2Jfull screen\x1b[?25l");
        let mut repainted = fed(b"");
        repainted.process(alternate.snapshot().as_bytes());
        assert!(repainted.parser.screen().alternate_screen());
        assert!(repainted.parser.screen().hide_cursor());
        assert_eq!(repainted.contents().trim_end(), "full screen");
        let primary = fed(b"back\r\n");
        repainted.process(primary.snapshot().as_bytes());
        assert!(!repainted.parser.screen().alternate_screen());
        assert_eq!(repainted.contents().trim_end(), "back");
    }
}

//! The rate budget's state file (`var/amocrm_rate`): the recent requests' slots and the
//! hold after a 429, read, changed and written back under an exclusive lock on the file,
//! so every process of the module counts the others' requests as its own.
//!
//! A few lines of text, numbers right-aligned at a fixed width, rewritten in place (no
//! sync: the state only matters for a second or two, and a torn or unreadable file is
//! read as an empty one):
//!
//! ```text
//! boot 6f1c…            the boot the times belong to (CLOCK_MONOTONIC restarts at boot)
//! hold 81234000000      no request starts before this
//! slot ID START END     oldest first; END is `-` while the request is under way
//! ```

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use super::clock::Mono;
use super::rate_window::{Slot, State, Window};

/// Changes with every boot; times written in another boot mean nothing in this one.
const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

pub(crate) struct StateFile {
    file: File,
    boot: String,
    /// The file's bytes, kept between reads.
    buf: Vec<u8>,
}

impl StateFile {
    /// Opens the state file, creating it (mode 0600) and its directory if missing.
    pub fn open(path: &Path) -> io::Result<StateFile> {
        let boot = std::fs::read_to_string(BOOT_ID)
            .map_err(|e| io::Error::new(e.kind(), format!("{BOOT_ID}: {e}")))?
            .trim()
            .to_string();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        Ok(StateFile {
            file,
            boot,
            buf: Vec::new(),
        })
    }

    /// Runs `f` on the state as the file holds it and writes the result back, all under
    /// the file's exclusive lock (waiting for another process holding it).
    pub fn update<R>(&mut self, f: impl FnOnce(&mut State) -> R) -> io::Result<R> {
        self.file.lock()?;
        let result = self.read_change_write(f);
        let unlocked = self.file.unlock();
        let r = result?;
        unlocked?;
        Ok(r)
    }

    fn read_change_write<R>(&mut self, f: impl FnOnce(&mut State) -> R) -> io::Result<R> {
        self.read()?;
        let mut state = parse(std::str::from_utf8(&self.buf).unwrap_or(""), &self.boot);
        let r = f(&mut state);
        let text = render(&state, &self.boot);
        self.file.write_all_at(text.as_bytes(), 0)?;
        if text.len() < self.buf.len() {
            self.file.set_len(text.len() as u64)?;
        }
        Ok(r)
    }

    /// Reads the whole file; a read that stops short of the buffer has reached its end,
    /// so the usual small file costs one call.
    fn read(&mut self) -> io::Result<()> {
        self.buf.clear();
        let mut chunk = [0u8; 4096];
        loop {
            match self.file.read_at(&mut chunk, self.buf.len() as u64) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    if n < chunk.len() {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// The state in `text`; an empty one when it was written in another boot or is not the
/// file's format. Lines that cannot be read are left out.
fn parse(text: &str, boot: &str) -> State {
    let mut lines = text.lines();
    if lines.next().and_then(|l| l.strip_prefix("boot ")) != Some(boot) {
        return State::new();
    }
    let mut state = State::new();
    let mut slots = Vec::new();
    for line in lines {
        let mut words = line.split_ascii_whitespace();
        match (words.next(), words.next(), words.next(), words.next()) {
            (Some("hold"), Some(at), None, None) => {
                if let Some(at) = mono(at) {
                    state.hold = at;
                }
            }
            (Some("slot"), Some(id), Some(start), Some(end)) => {
                if let (Ok(id), Some(start)) = (id.parse(), mono(start)) {
                    let end = if end == "-" { None } else { mono(end) };
                    slots.push(Slot { id, start, end });
                }
            }
            _ => {}
        }
    }
    state.window = Window::from_slots(slots);
    state
}

fn mono(text: &str) -> Option<Mono> {
    text.parse().ok().map(Mono::from_nanos)
}

/// Numbers are written at a fixed width, so that the file keeps its length from one
/// request to the next and is rewritten in place, with no call to shorten it.
fn render(state: &State, boot: &str) -> String {
    let mut text = format!("boot {boot}\nhold {:>20}\n", state.hold.nanos());
    for s in state.window.slots() {
        let end = s.end.map_or("-".to_string(), |e| e.nanos().to_string());
        // Writing to a String cannot fail.
        let _ = writeln!(text, "slot {:>20} {:>20} {end:>20}", s.id, s.start.nanos());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(id: u64, start: u64, end: Option<u64>) -> Slot<Mono> {
        Slot {
            id,
            start: Mono::from_nanos(start),
            end: end.map(Mono::from_nanos),
        }
    }

    #[test]
    fn the_state_reads_back_as_written() {
        let state = State {
            hold: Mono::from_nanos(900),
            window: Window::from_slots([slot(1 << 32 | 7, 100, Some(250)), slot(9, 300, None)]),
        };
        let text = render(&state, "b-1");
        let words: Vec<Vec<&str>> = text
            .lines()
            .map(|l| l.split_ascii_whitespace().collect())
            .collect();
        assert_eq!(
            words,
            [
                vec!["boot", "b-1"],
                vec!["hold", "900"],
                vec!["slot", "4294967303", "100", "250"],
                vec!["slot", "9", "300", "-"],
            ]
        );
        // Slots under way and answered take the same room: the file keeps its length.
        let lines: Vec<usize> = text.lines().skip(1).map(str::len).collect();
        assert_eq!(lines, [25, 67, 67]);
        let back = parse(&text, "b-1");
        assert_eq!(back.hold, state.hold);
        assert!(back.window.slots().eq(state.window.slots()));
    }

    #[test]
    fn another_boot_or_garbage_reads_as_empty() {
        let text = "boot b-1\nhold 900\nslot 1 100 -\n";
        let other = parse(text, "b-2");
        assert_eq!(
            (other.hold, other.window.slots().count()),
            (Mono::default(), 0)
        );
        for junk in ["", "\u{0}\u{0}", "hold 5\n", "boot\n"] {
            assert_eq!(parse(junk, "b-1").window.slots().count(), 0, "{junk:?}");
        }
        // A line cut short or mangled is left out; the rest stands.
        let torn = parse(
            "boot b-1\nslot 1 100 -\nslot 2 1x0 -\nslot 3 300\nhold\n",
            "b-1",
        );
        assert_eq!(torn.window.slots().map(|s| s.id).collect::<Vec<_>>(), [1]);
    }

    #[test]
    fn an_update_rewrites_the_file_in_place_shorter_or_longer() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("var/amocrm_rate");
        let mut file = StateFile::open(&path).expect("open");
        for n in [5u64, 1, 3] {
            file.update(|s| {
                s.window = Window::from_slots((0..n).map(|i| slot(i, 1_000_000 + i, None)));
            })
            .expect("update");
            let text = std::fs::read_to_string(&path).expect("read");
            assert_eq!(text.lines().count() as u64, 2 + n, "{text}");
        }
        let mut other = StateFile::open(&path).expect("a second handle");
        let ids = other
            .update(|s| s.window.slots().map(|s| s.id).collect::<Vec<_>>())
            .expect("update");
        assert_eq!(ids, [0, 1, 2]);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

//! The panel's database parameters (`DBHost`, `DBUser`, `DBPassword`, `DBName`, `DBSocket`)
//! as the panel's own sources give them, and the connection url they make.
//!
//! The names and the socket are ISPsystem's: ISPsystemLLC/billmanager
//! `processing/certificate/sslstore/defines.h` (`ConfDBHost` … `ConfDBSocket`), and
//! `sslstore/util.cpp` `DB()`, which connects through `DBSocket` when it is set.

use std::path::Path;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::secret::Secret;

/// The parameter names, as the panel spells them.
pub const NAMES: [&str; 5] = ["DBHost", "DBUser", "DBPassword", "DBName", "DBSocket"];

/// `DBHost, DBUser, DBPassword, DBName or DBSocket`, for messages.
pub fn names_or() -> String {
    format!("{} or {}", NAMES[..4].join(", "), NAMES[4])
}

/// Defaults for what a source leaves out: those of ISPsystem's PHP registrar module
/// (`processing/registrar/processing/pmregistrar.php` `GetConnection`: localhost, root,
/// an empty password, billmgr). ISPsystem's C++ certificate module defaults the name to
/// `billmgr5` (`sslstore/defines.h`); `billmgr` is the one the install scripts write.
const DEFAULT_HOST: &str = "localhost";
const DEFAULT_USER: &str = "root";
const DEFAULT_NAME: &str = "billmgr";

/// Where MySQL/MariaDB put their socket on the systems BILLmanager runs on: Debian and
/// Ubuntu (`/run/mysqld`), AlmaLinux/Rocky (`/var/lib/mysql`). ISPsystem's Python library
/// looks in the last three for `localhost` (ea0hw33/billmgr `billmgr/db.py`).
const SOCKETS: [&str; 4] = [
    "/run/mysqld/mysqld.sock",
    "/var/run/mysqld/mysqld.sock",
    "/var/lib/mysql/mysql.sock",
    "/tmp/mysql.sock",
];

/// The parameters one source (or several, merged) gave.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PanelParams {
    host: Option<String>,
    user: Option<String>,
    password: Option<String>,
    name: Option<String>,
    socket: Option<String>,
}

impl PanelParams {
    /// Takes one `name = value` the source gave; other names are not ours and are ignored.
    /// A password keeps its spaces; the other values are trimmed.
    pub fn set(&mut self, name: &str, value: &str) {
        let trimmed = || Some(value.trim().to_string());
        match name {
            "DBHost" => self.host = trimmed(),
            "DBUser" => self.user = trimmed(),
            "DBPassword" => self.password = Some(value.to_string()),
            "DBName" => self.name = trimmed(),
            "DBSocket" => self.socket = trimmed(),
            _ => {}
        }
    }

    /// Whether the source named none of the database parameters.
    pub fn is_empty(&self) -> bool {
        *self == PanelParams::default()
    }

    /// `later` wins for each parameter it names.
    pub fn merge(&mut self, later: PanelParams) {
        let take = |mine: &mut Option<String>, theirs: Option<String>| {
            if theirs.is_some() {
                *mine = theirs;
            }
        };
        take(&mut self.host, later.host);
        take(&mut self.user, later.user);
        take(&mut self.password, later.password);
        take(&mut self.name, later.name);
        take(&mut self.socket, later.socket);
    }

    /// The password, if any, for the log's mask.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref().filter(|p| !p.is_empty())
    }

    /// `mysql://user:password@host:3306/name`, or, when the host is `localhost` (or not
    /// given), over the unix socket `DBSocket` names, else the first found where MySQL
    /// and MariaDB put it (`mysql://user:password@localhost/name?socket=/path`): a MariaDB
    /// user that authenticates by the socket (root on Debian and Ubuntu) is refused over
    /// TCP. A `DBSocket` beside a loopback address (127.0.0.1, ::1) is taken too: it names
    /// the same server, and only the socket lets such a user in. It is ignored for any
    /// other host, as the MySQL client library ignores it: a socket line left behind when
    /// the database moved must not send the module to the old local server. That the panel
    /// connects through that library, and so by the same rule, is inferred: a panel with
    /// `DBSocket` beside a remote `DBHost` would confirm it.
    pub fn url(&self) -> Secret {
        self.url_with(&|p: &str| Path::new(p).exists())
    }

    /// [`PanelParams::url`] with a given test of which socket exists.
    fn url_with(&self, exists: &dyn Fn(&str) -> bool) -> Secret {
        let given = |v: &Option<String>, default: &str| {
            v.clone()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_string())
        };
        let host = given(&self.host, DEFAULT_HOST);
        let user = given(&self.user, DEFAULT_USER);
        let name = given(&self.name, DEFAULT_NAME);
        let auth = match self.password() {
            Some(p) => format!("{}:{}", encode(&user), encode(p)),
            None => encode(&user),
        };
        let named = self.socket.clone().filter(|s| !s.is_empty());
        let socket = if host.eq_ignore_ascii_case("localhost") {
            named.or_else(|| SOCKETS.into_iter().find(|s| exists(s)).map(str::to_string))
        } else {
            named.filter(|_| is_loopback(&host))
        };
        Secret::new(match socket {
            Some(s) => format!(
                "mysql://{auth}@{}/{}?socket={}",
                url_host(&host),
                encode(&name),
                encode(&s)
            ),
            None => format!("mysql://{auth}@{}:3306/{}", url_host(&host), encode(&name)),
        })
    }
}

/// Whether the host is this machine by address.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// Names the parameters given, never the password's value.
impl std::fmt::Debug for PanelParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PanelParams")
            .field("host", &self.host)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("name", &self.name)
            .field("socket", &self.socket)
            .finish()
    }
}

/// A host as a url holds it: an IPv6 address in brackets.
fn url_host(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// Percent-encodes everything but unreserved characters, for the url's parts.
fn encode(s: &str) -> String {
    const KEPT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    utf8_percent_encode(s, KEPT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> PanelParams {
        let mut p = PanelParams::default();
        for (k, v) in pairs {
            p.set(k, v);
        }
        p
    }

    #[test]
    fn encodes_user_info() {
        assert_eq!(encode("p@ss:w/rd"), "p%40ss%3Aw%2Frd");
        assert_eq!(encode("пароль").len(), 36);
        assert_eq!(encode("plain_1.x"), "plain_1.x");
    }

    #[test]
    fn a_remote_host_is_reached_over_tcp() {
        let p = params(&[
            ("DBHost", " db.local "),
            ("DBUser", "billing"),
            ("DBPassword", "p@ss w0rd"),
            ("DBName", "panel"),
        ]);
        let none = |_: &str| false;
        assert_eq!(
            p.url_with(&none).expose(),
            "mysql://billing:p%40ss%20w0rd@db.local:3306/panel"
        );
    }

    #[test]
    fn db_socket_or_localhost_means_the_unix_socket() {
        let only = |s: &str| s == "/var/lib/mysql/mysql.sock";
        let p = params(&[("DBPassword", "secret")]);
        assert_eq!(
            p.url_with(&only).expose(),
            "mysql://root:secret@localhost/billmgr?socket=%2Fvar%2Flib%2Fmysql%2Fmysql.sock"
        );
        // No socket where they usually are: TCP to localhost.
        let none = |_: &str| false;
        assert_eq!(
            p.url_with(&none).expose(),
            "mysql://root:secret@localhost:3306/billmgr"
        );
        // DBSocket names the socket for localhost; another host is reached over TCP.
        let p = params(&[("DBSocket", "/srv/my.sock")]);
        assert_eq!(
            p.url_with(&only).expose(),
            "mysql://root@localhost/billmgr?socket=%2Fsrv%2Fmy.sock"
        );
        let p = params(&[("DBHost", "10.0.0.5"), ("DBSocket", "/srv/my.sock")]);
        assert_eq!(
            p.url_with(&only).expose(),
            "mysql://root@10.0.0.5:3306/billmgr"
        );
        // A loopback address with DBSocket: the same server, by its socket.
        let p = params(&[("DBHost", "127.0.0.1"), ("DBSocket", "/srv/my.sock")]);
        assert_eq!(
            p.url_with(&only).expose(),
            "mysql://root@127.0.0.1/billmgr?socket=%2Fsrv%2Fmy.sock"
        );
        let p = params(&[("DBHost", "127.0.0.1")]);
        assert_eq!(
            p.url_with(&only).expose(),
            "mysql://root@127.0.0.1:3306/billmgr"
        );
    }

    #[test]
    fn later_sources_win_name_by_name() {
        let mut p = params(&[("DBHost", "a"), ("DBName", "one")]);
        p.merge(params(&[("DBHost", "b")]));
        let none = |_: &str| false;
        assert_eq!(p.url_with(&none).expose(), "mysql://root@b:3306/one");
        assert!(params(&[("License", "x")]).is_empty());
        assert!(!params(&[("DBPassword", "")]).is_empty());
        let shown = format!("{:?}", params(&[("DBPassword", "hunter22")]));
        assert!(!shown.contains("hunter22"), "{shown}");
    }
}

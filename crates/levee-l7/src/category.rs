//! The kinds of hostile request, found by [`crate::patterns`] (tokens) and
//! [`crate::inspect`] (rules on normalized text); a request's are a `u32` bit set.

/// Kinds of hostile request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Category {
    /// Code Red / Nimda era IIS probes: `cmd.exe`, `root.exe`, `default.ida`, Unicode and
    /// double-encoded directory traversal into `winnt/system32`.
    IisWorm,
    /// FrontPage server extension exploits (`fp30reg.dll`, `_vti_bin`).
    FrontPage,
    /// `../` and its encodings, and the files traversal aims at.
    PathTraversal,
    /// Shell commands in the request (`| id |`, `;wget`, `/bin/sh`).
    CommandInjection,
    /// SQL injection (`union select`, `' or 1=1`, `sleep(`).
    SqlInjection,
    /// Probes for vulnerable PHP applications and tools (awstats `configdir`, phpMyAdmin,
    /// phpBB, phpunit `eval-stdin.php`, `php://` wrappers).
    PhpProbe,
    /// Probes for files that must never be served (`.env`, `.git/`, `wp-config.php`).
    SensitiveFile,
    /// `() {` of Shellshock in a header.
    Shellshock,
    /// `${jndi:` of Log4Shell anywhere.
    Log4Shell,
    /// The user agent of a scanner or attack tool (Nikto, sqlmap, masscan, zgrab, Nuclei...).
    ScannerAgent,
    /// Script or markup for the browser: tags, event handlers, `javascript:` URLs.
    Xss,
    /// A cookie set from the request (`document.cookie=`, `; expires=`).
    SessionFixation,
    /// PHP code or settings (`<?php`, `[php]`, `$_GET`, calls of PHP functions).
    PhpInjection,
    /// Java expressions (EL, OGNL, `java.lang.Runtime`).
    JavaInjection,
    /// Server-side code other than PHP and Java: template expressions (`{{7*7}}`), Node.js
    /// (`require('child_process')`), prototype pollution, endless loops.
    CodeInjection,
    /// LDAP filter syntax closing and opening filters (`)(|(uid=*`).
    LdapInjection,
    /// A line break followed by a header, a response or a mail command.
    HeaderInjection,
    /// A URL to the server's own network, or to an address written to be misread.
    Ssrf,
    /// A URL for the application to include (`?page=http://1.2.3.4/x.php`, `?x=http?`).
    RemoteFileInclusion,
}

impl Category {
    /// Every category, in bit order.
    pub const ALL: [Category; 19] = [
        Category::IisWorm,
        Category::FrontPage,
        Category::PathTraversal,
        Category::CommandInjection,
        Category::SqlInjection,
        Category::PhpProbe,
        Category::SensitiveFile,
        Category::Shellshock,
        Category::Log4Shell,
        Category::ScannerAgent,
        Category::Xss,
        Category::SessionFixation,
        Category::PhpInjection,
        Category::JavaInjection,
        Category::CodeInjection,
        Category::LdapInjection,
        Category::HeaderInjection,
        Category::Ssrf,
        Category::RemoteFileInclusion,
    ];

    /// The category's bit in a set of categories (a `u32` mask).
    pub fn bit(self) -> u32 {
        1 << self as u8
    }

    /// The category's name, as reasons and JSON carry it.
    pub fn name(self) -> &'static str {
        match self {
            Category::IisWorm => "iis-worm-probe",
            Category::FrontPage => "frontpage-exploit",
            Category::PathTraversal => "path-traversal",
            Category::CommandInjection => "command-injection",
            Category::SqlInjection => "sql-injection",
            Category::PhpProbe => "php-vulnerability-probe",
            Category::SensitiveFile => "sensitive-file-probe",
            Category::Shellshock => "shellshock",
            Category::Log4Shell => "log4shell",
            Category::ScannerAgent => "scanner-user-agent",
            Category::Xss => "xss",
            Category::SessionFixation => "session-fixation",
            Category::PhpInjection => "php-injection",
            Category::JavaInjection => "java-injection",
            Category::CodeInjection => "code-injection",
            Category::LdapInjection => "ldap-injection",
            Category::HeaderInjection => "header-injection",
            Category::Ssrf => "ssrf",
            Category::RemoteFileInclusion => "remote-file-inclusion",
        }
    }

    /// The categories of a bit set.
    pub fn of_mask(mask: u32) -> impl Iterator<Item = Category> {
        Category::ALL
            .into_iter()
            .filter(move |c| mask & c.bit() != 0)
    }
}

//! Hostile requests recognised the way a web application firewall does: the request is cut
//! into the pieces an application reads (the path, each query parameter, the User-Agent and
//! Referer headers), each piece is normalized ([`decode::normalize`]: stacked percent-encoding,
//! HTML references, JavaScript escapes, look-alike characters, SQL comments, blanks), and the
//! normalized text is matched against rules that describe each kind of attack by its syntax:
//! a quote that closes a string and an SQL operator after it, a tag or an event handler, a
//! shell separator and a command after it (matched on [`decode::shell_view`], where the
//! quoting tricks a shell ignores are gone), a Windows `FOR … IN (…) DO`, a template
//! expression, a URL to the server's own network ([`host::ssrf`]), a line break followed by
//! a header or a mail command.
//!
//! The rules are levee's own. Each names what it saw; a request carries the categories of the
//! rules it matched ([`Category`] bits) and the first rule's name and the piece it matched in,
//! for the verdict's reasons. They are measured on the OWASP Core Rule Set's regression cases
//! in `../shared/data/l7-payloads/` (see the tests in `tests/inspect.rs`), whose benign
//! near-misses (words like `settings`, `time express`, SAML blobs, `my--slug`) keep them
//! honest. Deliberately left out, because a legitimate site sends them in the normal course:
//! Django-style lookups in parameter names (`price__gte`), bare PHP function names without a
//! call, and English words that are also commands (`range (`, `touch`).

pub mod decode;
pub mod host;

use regex::bytes::{RegexSet, RegexSetBuilder};

use crate::category::Category;

/// One rule: its category, its name (told in reasons), its pattern on normalized text.
struct Rule {
    category: Category,
    name: &'static str,
    pattern: &'static str,
}

const fn rule(category: Category, name: &'static str, pattern: &'static str) -> Rule {
    Rule {
        category,
        name,
        pattern,
    }
}

/// Unix and Windows commands an injected command line starts with.
macro_rules! commands {
    () => {
        "cat|tac|ls|id|whoami|uname|wget|curl|nc|ncat|netcat|bash|sh|zsh|ksh|csh|dash|python[0-9.]*|perl|ruby|php|node|lua|ping|nslookup|echo|printf|chmod|chown|rm|mv|cp|kill|pkill|killall|ps|env|export|ifconfig|ip|netstat|telnet|ssh|scp|tftp|base64|xxd|sleep|who|w|vi|vim|nano|more|less|head|tail|grep|egrep|find|awk|gawk|sed|tar|gzip|gunzip|crontab|sudo|su|passwd|useradd|usermod|systemctl|mkfifo|nohup|xargs|time|hostname|uptime|lastlog|history|set|unset|alias|eval|exec|source|od|strings|dd|mount|chattr|lsof|socat|openssl|busybox|tcpdump|nmap|reboot|shutdown|powershell|pwsh|cmd|certutil|bitsadmin|mshta|rundll32|regsvr32|wmic|netsh|schtasks|tasklist|taskkill|systeminfo|ipconfig|findstr|bcdboot|bcdedit|vssadmin|wevtutil|icacls"
    };
}

/// Rules on every normalized piece: the path, each parameter as `name=value`, each header.
const RULES: &[Rule] = &[
    // SQL injection.
    rule(
        Category::SqlInjection,
        "union-select",
        r"\bunion\b[\s(]*(all\b|distinct\b)?[\s(]*select\b|\bunion\s+all\b",
    ),
    rule(
        Category::SqlInjection,
        "quote-then-boolean",
        r#"['"`]\s*\)*\s*(or|and|xor|&&|\|\|)\s*[\w'"(-]+\s*(=|<|>|!=|<>|\blike\b|\bis\b|\bin\b|\bregexp\b|\brlike\b|\bbetween\b)"#,
    ),
    rule(
        Category::SqlInjection,
        "quote-then-function",
        r#"['"`]\s*\)*\s*(or|and|xor|&&|\|\|)\s*[a-z_]+\s*\("#,
    ),
    rule(
        Category::SqlInjection,
        "quote-then-sql",
        r#"['"`]\s*\)*\s*(;\s*(select|insert|update|delete|drop|exec|declare|shutdown|waitfor|--|#)\b|--\s|--$|#\s*$|/\*|\bunion\b|\border\s+by\b|\bgroup\s+by\b|\bhaving\b|\bprocedure\b|\bwaitfor\b|\binto\s+(out|dump)file\b)"#,
    ),
    rule(
        Category::SqlInjection,
        "number-comparison",
        r"\b(or|and|xor|having)\s+\d+\s*(=|<>|!=|<=|>=|<|>|\blike\b)\s*\d+",
    ),
    rule(
        Category::SqlInjection,
        "number-inequality",
        r"(^|=)\s*\d+\s*(!=|<>)\s*\d+\s*$|(^|=)\s*\d+\s+is\s+(not\s+)?(\d+|null)\s*$",
    ),
    rule(
        Category::SqlInjection,
        "sql-function",
        r"\b(sleep|benchmark|pg_sleep|extractvalue|updatexml|load_file|group_concat|json_extract|json_search|json_array|json_build_object|jsonb_pretty|lo_get|lo_import|unistr|string_to_array|make_set|dbms_pipe\.receive_message|utl_inaddr\.get_host_address)\s*\(",
    ),
    rule(
        Category::SqlInjection,
        "overlay-placing",
        r"\boverlay\s*\(.*\bplacing\b",
    ),
    rule(
        Category::SqlInjection,
        "postgres-cast",
        r"(\)|')\s*::\s*(int|integer|text|json|jsonb|varchar|numeric|bigint|bool|boolean|bytea|regclass|oid)\b",
    ),
    rule(
        Category::SqlInjection,
        "json-operator",
        r#"'[\[{][^']*'\s*(::\s*jsonb?\b|->|#>|#-|<@|@>|@\?|@@|\?|\|\||<|>|-\s*\d)"#,
    ),
    rule(
        Category::SqlInjection,
        "or-literal",
        r"(^|=|/)\s*or\s+('|json_\w+\s*\()",
    ),
    rule(
        Category::SqlInjection,
        "stacked-query",
        r";\s*(insert\s+into|drop\s+(table|database|user|procedure|function|view|index)\b|delete\s+from|update\s+\w+\s+set\b|replace\s+\w*\s*\(|replace\s+into|truncate\b|create\s+(table|user|function|procedure|database)\b|alter\s+(table|user)\b|exec(ute)?\s+(xp_|sp_|master)|declare\s+@|shutdown\b|select\b.*\bfrom\b|grant\s)",
    ),
    rule(
        Category::SqlInjection,
        "sql-statement",
        r"\binsert\s+into\s+\w+.*\bvalues\b|\bdelete\s+from\s+\w+|\bdrop\s+(table|database)\s+\w+|\bdrop\s+\w+\s*;|\bcreate\s+(or\s+replace\s+)?function\s+\w+.*\breturns\b|\btruncate\s+table\s+\w+",
    ),
    rule(
        Category::SqlInjection,
        "having-aggregate",
        r"\bhaving\s+(count|sum|min|max|avg)\s*\(|\bhaving\s+\d+\s*[=<>]",
    ),
    rule(
        Category::SqlInjection,
        "order-by-expression",
        r"\b(order|group)\s+by\s+(if|case|sleep)\b|\b(order|group)\s+by\s+\d+\s*(--|#)",
    ),
    rule(
        Category::SqlInjection,
        "like-literal",
        r"\blike\s+(null\b|'\s*$|'%|\x22\s*$)",
    ),
    rule(
        Category::SqlInjection,
        "select-list",
        r"\bselect\b[\s.(]*(\*|\d+\s*,|@@|null\b|count\s*\(|concat|char\s*\(|user\s*\(|version\s*\(|database\s*\()|\bselect\s+[\w,\s]+\s+from\s+\w+\s*(where|limit|order|group|union|;|--|#|\))",
    ),
    rule(
        Category::SqlInjection,
        "set-operation",
        r"\b(except|intersect|union)\s+(values|select)\b|\bin\s*\(\s*select\b",
    ),
    rule(
        Category::SqlInjection,
        "waitfor",
        r"\bwaitfor\s+(delay|time)\b",
    ),
    rule(
        Category::SqlInjection,
        "system-table",
        r"\b(information_schema|sysobjects|syscolumns|pg_catalog|pg_shadow|sqlite_master|msysobjects|xp_cmdshell|sp_executesql|msdasql|sqloledb|openrowset|opendatasource)\b",
    ),
    rule(
        Category::SqlInjection,
        "integer-overflow",
        r"(^|=)(2147483647|2147483648|4294967295|4294967296|9223372036854775807|9223372036854775808|18446744073709551615|18446744073709551616|2\.2250738585072011e-308|1e309)$",
    ),
    rule(
        Category::SqlInjection,
        "nosql-operator",
        r"\|\|\s*this\b|\[\s*\$(ne|gt|gte|lt|lte|regex|where|nin|exists|expr)\s*\]|\$where\b",
    ),
    // Cross-site scripting.
    rule(
        Category::Xss,
        "html-tag",
        r"<\s*/?\s*(script|iframe|frame|frameset|object|embed|applet|svg|math|base|meta|link|style|form|isindex|xss|x|img|image|body|video|audio|source|input|textarea|button|details|marquee|template|animate|handler|listener)\b|<\??\s*import\b|<\??\s*importimplementation",
    ),
    rule(
        Category::Xss,
        "event-handler",
        r#"[\s"'`;(<>+=]on[a-z]{3,40}\s*="#,
    ),
    rule(
        Category::Xss,
        "script-url",
        r"\b(javascript|vbscript|livescript)\s*:",
    ),
    rule(
        Category::Xss,
        "css-script",
        r"url\s*\(\s*['\x22]?\s*(javascript|vbscript)\b|url\s*\(\s*['\x22]?\s*data\s*:|\bexpression\s*\(|-moz-binding\s*:|behavior\s*:\s*url",
    ),
    rule(
        Category::Xss,
        "data-url",
        r"(^|=)\s*data\s*:\s*[a-z]*(/[\w.+-]*)?\s*[;,]|(^|=)\s*data\s*:\s*(text|image|application)/",
    ),
    rule(
        Category::Xss,
        "script-sink",
        r"\b(alert|prompt|confirm)\s*\(|document\s*\.\s*(cookie|domain|write|location)|window\s*\.\s*location|\beval\s*\(|\batob\s*\(|fromcharcode\s*\(",
    ),
    rule(Category::Xss, "utf7", r"\+ad[w4]-"),
    rule(
        Category::Xss,
        "markup-declaration",
        r"<!\s*(entity|doctype|element|attlist)|!entity\s",
    ),
    rule(
        Category::Xss,
        "constructor-chain",
        r"constructor\s*\.\s*constructor|\bconstructor\s*\(\s*['\x22]",
    ),
    // Session fixation.
    rule(
        Category::SessionFixation,
        "cookie-set-in-request",
        r"\.cookie\s*[=;]|\bset-cookie\s*:|;\s*expires\s*=|;\s*domain\s*=\s*\.",
    ),
    // PHP code.
    rule(
        Category::PhpInjection,
        "php-open-tag",
        r"<\?(php\b|=|\s|$)|<\?xml\s*($|[^a-z\s])",
    ),
    rule(
        Category::PhpInjection,
        "php-bbcode-tag",
        r"[\[{]\s*[\\/]?\s*php\s*[\]}]",
    ),
    rule(
        Category::PhpInjection,
        "php-superglobal",
        r"\$_(get|post|request|cookie|server|files|env|session|globals)\b",
    ),
    rule(
        Category::PhpInjection,
        "php-setting",
        r"\b(allow_url_include|allow_url_fopen|auto_prepend_file|auto_append_file|disable_functions|open_basedir|safe_mode|extension_dir|memory_limit|register_globals|session\.auto_start|include_path)\s*=",
    ),
    rule(
        Category::PhpInjection,
        "php-wrapper",
        r"\b(php|phar|zip|compress\.zlib|compress\.bzip2|glob|expect|zlib|rar|ogg)://",
    ),
    rule(
        Category::PhpInjection,
        "php-function-call",
        r"\b(phpinfo|shell_exec|passthru|proc_open|pcntl_exec|create_function|call_user_func|call_user_func_array|preg_replace|base64_decode|gzinflate|gzuncompress|str_rot13|file_get_contents|file_put_contents|fopen|fwrite|fputs|fputcsv|fread|readfile|highlight_file|show_source|unserialize|serialize|symlink|chroot|chmod|chown|chgrp|unlink|rmdir|crypt|checkdate|ini_set|ini_get|ob_start|move_uploaded_file|var_dump|print_r|var_export|get_defined_vars|(posix|mb|pg|mysql|mysqli|ldap|date|sodium|tidy|zlib|curl|xml|openssl|stream|socket|ftp|imap|array|str|preg|func|ob|session|apache|iconv|ctype|gmp|sqlite|oci|odbc|hash|proc|pcntl|ini|filter)_\w+)\s*(\(|/\*|//|#)",
    ),
    // Functions named like English words, only with an argument that is code (a string, a
    // variable, a command): prose says "c's assert() feature".
    rule(
        Category::PhpInjection,
        "php-call-with-code",
        r#"\b(system|assert|exec|popen|eval|include|require|include_once|require_once)\s*\(\s*['"$`]"#,
    ),
    // Server-side code: Java expressions, templates, Node.js.
    rule(
        Category::Log4Shell,
        "jndi-lookup",
        r"jndi\s*:\s*(ldaps?|rmi|dns|iiop|nis|nds|corba|https?)\s*:|\$\{\s*jndi\s*:",
    ),
    rule(
        Category::JavaInjection,
        "java-expression",
        r"\$\{[^}]*(runtime|processbuilder|getclass|classloader|forname|getruntime|java\.)|#\{[^}]*(runtime|\.exec\s*\(|java\.)|%\{[^}]*(#_memberaccess|@java|runtime|#context)|\bjava\.lang\.(runtime|processbuilder|reflect|class|system)\b|getruntime\s*\(|\bnew\s+java\.|class\.module\.classloader",
    ),
    rule(
        Category::CodeInjection,
        "template-expression",
        r"\{\{[^}]*([*+/()\[\]]|__|\.\w+\.)[^}]*\}\}|\{%\s*(if|for|set|import|include|extends|block|macro|raw|print)\b|<%=?\s*\S.*%>|#\{[^}]*[*()'.+][^}]*\}",
    ),
    rule(
        Category::CodeInjection,
        "node-code",
        r"\brequire\s*(\(|;)|child_process|\bprocess\s*\.\s*(mainmodule|binding|exit|kill|dlopen)\b|\.(spawn|fork|execsync|spawnsync|execfile)\s*\(|\b_load\s*\(",
    ),
    rule(
        Category::CodeInjection,
        "prototype-pollution",
        r"__proto__|constructor\s*(\.|\[\s*['\x22]?|\]\s*\[\s*['\x22]?)\s*prototype",
    ),
    rule(
        Category::CodeInjection,
        "endless-loop",
        r"\bwhile\s*\(\s*([!+(-]|true\b|1\b|this\b|string\b|new\s|infinity\b|nan\b|null\b|undefined\b|false\b)",
    ),
    // Other protocols smuggled in.
    rule(
        Category::LdapInjection,
        "ldap-filter",
        r"\)\s*\(\s*([|&!]|[\w-]+\s*[~<>]?=)|\)\s*[|&]\s*\(\s*[\w-]+\s*[~<>]?=",
    ),
    rule(
        Category::HeaderInjection,
        "line-break-then-header",
        r"[\r\n]\s*([\w-]+\s*:|http/\d|<|(rcpt|mail|ehlo|helo|data|quit|rset|vrfy|expn|auth|starttls|retr|list|dele|stat|uidl|top|user|pass|apop)\b|[a-z0-9]+ (login|select|examine|fetch|store|capability|authenticate)\b)",
    ),
    rule(
        Category::HeaderInjection,
        "line-break-in-name",
        r"^[^=]*[\r\n]",
    ),
    // Files.
    rule(
        Category::PathTraversal,
        "traversal",
        r"\.\.[/\\]|[/\\]\.\.$|(^|=)\.\.$",
    ),
    rule(
        Category::PathTraversal,
        "system-file",
        r"/etc/(passwd|shadow|group|hosts|issue|subuid|subgid|sudoers|crontab|fstab|motd|apache2?|nginx|httpd|mysql|php|ssh|letsencrypt)\b|/proc/(self|net|sys|version|cpuinfo|meminfo|mounts|\d+)/?|(^|[=\s])/sys/(class|kernel|devices|block|module)\b|\.ssh/(id_\w+|authorized_keys|known_hosts)|\.aws/(credentials|config)|\.docker/|\.kube/config|(^|[/=\s])\.(bash_|zsh_|mysql_|psql_|python_)?history\b|\bboot\.ini\b|\bwin\.ini\b|\bhttpd\.conf\b|\bweb\.config\b|(^|[=\s])/root/|/var/log/",
    ),
    rule(
        Category::SensitiveFile,
        "backup-file",
        r"\.(sql|db|sqlite|mdb|bak|old|orig|swp|save|backup|rdb|dump)(\.(zip|gz|tgz|tar|bz2|7z|rar|xz))?$|\.\w+~(/|$)",
    ),
    rule(
        Category::CommandInjection,
        "redirect-to-file",
        r">\s*/(tmp|dev|var|etc|root|home)/",
    ),
    // Commands whose syntax a shell's quoting does not hide (the rest are `SHELL_RULES`).
    rule(
        Category::CommandInjection,
        "windows-for",
        r"\bfor\b[^%]{0,80}%%?[\w~@\[\]/_+-]?\S*\s+in\s*\(",
    ),
    rule(
        Category::CommandInjection,
        "windows-if",
        r"\bif\s*(/i\s*)?(not\s+)?(exist|defined|errorlevel|cmdextversion)\b|\bif\s*(/i\s*)?(not\s+)?\(?\s*(\S+|\x22[^\x22]*\x22)\s*(==|\s(equ|neq|lss|leq|gtr|geq)\s)",
    ),
    rule(
        Category::CommandInjection,
        "windows-shell",
        r"\b(cmd|powershell|pwsh)(\.exe)?\s+(/c|/k|-c|-command|-enc|-e|-nop|-w|-inputformat|-executionpolicy)\b|\binvoke-(webrequest|expression|restmethod|command)\b|\biex\s*\(|downloadstring|new-object\s+(system\.)?net\.webclient|\bstart-process\b",
    ),
    rule(Category::CommandInjection, "shell-function", r"\(\)\s*\{"),
    rule(
        Category::CommandInjection,
        "brace-expansion",
        r"\{\s*,[^}]*,[^}]*\}|\{[^{}\s]*/[^{}\s]*,\}",
    ),
    rule(
        Category::CommandInjection,
        "glob-path",
        r"/[\w?*]*[?*][\w?*]*/[\w?*]+",
    ),
    rule(
        Category::CommandInjection,
        "tilde-expansion",
        r"(^|[=\s])~[+-]\d*(\s|$)",
    ),
    rule(
        Category::CommandInjection,
        "alias",
        r"\balias\s+(\S+\s+)*[\w-]+=",
    ),
    rule(Category::CommandInjection, "ifs", r"\$\{?ifs\b"),
];

/// Rules on query parameters only: a URL there is for the application to fetch, where in a
/// Referer it is only the page the visitor came from (often the site's own address).
const PARAM_RULES: &[Rule] = &[
    rule(
        Category::RemoteFileInclusion,
        "url-ending-in-question-mark",
        r"(^|=)(https?|ftps?|file|php|data)(:\S*)?\?$",
    ),
    rule(
        Category::RemoteFileInclusion,
        "url-to-an-address",
        r"(^|=)(https?|ftps?)://(\d{1,3}\.){3}\d{1,3}(:\d+)?/",
    ),
    rule(
        Category::RemoteFileInclusion,
        "url-in-an-include-parameter",
        r"(^|[_\[.])(path|include|inc|dir|root|basedir|rootpath|absolute_path|conf|config|cfg|template|lib|class|module)\]?\s*=\s*(https?|ftps?)://",
    ),
];

/// Rules on the shell view of a piece (quotes and empty expansions inside words removed).
const SHELL_RULES: &[Rule] = &[
    rule(
        Category::CommandInjection,
        "command-after-separator",
        concat!(
            r"(;|\||&|`|\$\(|\n|<\(|>\()\s*(\$\w+\s+)?(/[\w/]*/)?(",
            commands!(),
            r")([\s;|&<>$+]|$)"
        ),
    ),
    rule(
        Category::CommandInjection,
        "command-with-arguments",
        concat!(
            r"(^|=)\s*(/[\w/]*/)?(",
            commands!(),
            r")\s+((",
            commands!(),
            r")\b|-{1,2}[a-z]|/[\w.]|[<>|(]|\d+\.\d+\.\d+\.\d+)"
        ),
    ),
    rule(
        Category::CommandInjection,
        "network-tool",
        r"(^|[=;|&`(])\s*(wget|curl|nc|ncat|netcat|telnet|tftp)\s+[\w.:/-]+",
    ),
    rule(
        Category::CommandInjection,
        "windows-command-switch",
        r"(^|[=;&|])\s*(bcdboot|bcdedit|certutil|bitsadmin|netsh|schtasks|wmic|tasklist|taskkill|icacls|cacls|attrib|xcopy|robocopy|vssadmin|wevtutil|diskpart|findstr|systeminfo|ipconfig|tracert|mshta|rundll32|regsvr32|cscript|wscript|reg|sc|net|del|dir|type)(\.exe)?\s*(/[a-z?]|<|>)",
    ),
    rule(
        Category::CommandInjection,
        "administration-tool",
        r"(^|=)\s*(ansible[\w-]*|chef-\w+|chef\s+\w+|cscli|visudo|kubectl|terraform|puppet|salt-\w+)(\s|$)",
    ),
];

/// Rules on the shell view of a piece that a shell's quoting changed (`'wh'oami`,
/// `c\\at`): a command by itself is then evidence, where the plain word would not be.
const OBFUSCATED_RULES: &[Rule] = &[rule(
    Category::CommandInjection,
    "command-behind-quoting",
    concat!(r"(^|=)\s*(/[\w/]*/)?(", commands!(), r")(\s|$)"),
)];

/// Rules on the headers only: a header that is a command line by itself.
const HEADER_RULES: &[Rule] = &[rule(
    Category::CommandInjection,
    "header-is-a-command",
    r"^\s*(id|whoami|uname|ifconfig|ipconfig|hostname|pwd|ls|env|set|uptime|w|who|history|ps|netstat|systeminfo|tasklist|ver|dir|visudo)(\s+-{1,2}\w.*|\s+[a-z]+)?\s*$",
)];

/// What inspecting a request found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The categories of every rule matched ([`Category::bit`]s).
    pub mask: u32,
    /// The first rule matched, by name, and the normalized piece it matched in (empty for a
    /// token of [`crate::patterns`], which matches the target as sent).
    pub first: Option<(&'static str, String)>,
}

impl Finding {
    /// Records a match of rule `name`, of `category`, in `piece`.
    pub(crate) fn add(&mut self, category: Category, name: &'static str, piece: &str) {
        self.mask |= category.bit();
        if self.first.is_none() {
            self.first = Some((name, piece.chars().take(120).collect()));
        }
    }

    /// What the first match was, for a reason: the rule and the piece, as normalized.
    pub fn why(&self) -> Option<String> {
        let (rule, piece) = self.first.as_ref()?;
        Some(if piece.is_empty() {
            format!("token `{rule}`")
        } else {
            format!("rule {rule} on `{piece}`")
        })
    }
}

/// The rule sets, compiled once.
pub struct Inspector {
    all: RegexSet,
    shell: RegexSet,
    obfuscated: RegexSet,
    header: RegexSet,
    param: RegexSet,
    /// The rules that can match a plain piece ([`is_plain`]), with their entries.
    plain: RegexSet,
    plain_rules: Vec<&'static Rule>,
}

/// Rules that can match a piece of only lower-case letters, digits, `/`, `.`, `=`, `_`, `,`
/// and `-` (most of a site's paths and parameters); every other rule needs some other
/// character.
const PLAIN_RULES: &[&str] = &[
    "integer-overflow",
    "prototype-pollution",
    "administration-tool",
    "traversal",
    "system-file",
    "backup-file",
];

/// Whether a piece holds only the characters of [`PLAIN_RULES`]' reach.
fn is_plain(piece: &str) -> bool {
    piece
        .bytes()
        .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'/' | b'.' | b'=' | b'_' | b',' | b'-'))
}

impl Default for Inspector {
    fn default() -> Self {
        Inspector::new()
    }
}

fn compile(rules: &[Rule]) -> RegexSet {
    compile_refs(&rules.iter().collect::<Vec<_>>())
}

fn compile_refs(rules: &[&Rule]) -> RegexSet {
    // ASCII classes and word boundaries: the text is lower case and look-alikes are folded,
    // and ASCII rules keep the matcher on its fast automaton.
    RegexSetBuilder::new(rules.iter().map(|r| r.pattern))
        .unicode(false)
        .size_limit(64 << 20)
        .dfa_size_limit(16 << 20)
        .build()
        .expect("the inspection rules are valid patterns")
}

impl Inspector {
    /// The rules, compiled.
    pub fn new() -> Inspector {
        let plain_rules: Vec<&'static Rule> = RULES
            .iter()
            .chain(SHELL_RULES)
            .filter(|r| PLAIN_RULES.contains(&r.name))
            .collect();
        debug_assert_eq!(plain_rules.len(), PLAIN_RULES.len());
        Inspector {
            all: compile(RULES),
            shell: compile(SHELL_RULES),
            obfuscated: compile(OBFUSCATED_RULES),
            header: compile(HEADER_RULES),
            param: compile(PARAM_RULES),
            plain: compile_refs(&plain_rules),
            plain_rules,
        }
    }

    /// Inspects a request target: its path and each of its query parameters.
    pub fn target(&self, target: &str, found: &mut Finding) {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        if needs_inspection(path) {
            let path = decode::normalized(path, true);
            self.piece(&path, found);
        }
        if let Some(query) = query {
            for param in query.split('&') {
                if param.is_empty() || !needs_inspection(param) {
                    continue;
                }
                let piece = decode::normalized(param, true);
                self.piece(&piece, found);
                if !is_plain(&piece) || piece.contains('/') {
                    self.ssrf(&piece, found);
                }
                if piece.contains("://") || piece.ends_with('?') {
                    for i in self.param.matches(piece.as_bytes()).iter() {
                        found.add(PARAM_RULES[i].category, PARAM_RULES[i].name, &piece);
                    }
                }
                // A value sent in base64 is inspected as what it encodes.
                let raw_value = param.split_once('=').map_or("", |(_, v)| v);
                if let Some(text) = decode::base64_text(raw_value) {
                    self.piece(&decode::normalize(&text, false), found);
                }
            }
        }
    }

    /// Inspects a User-Agent or Referer header.
    pub fn header(&self, text: &str, found: &mut Finding) {
        let piece = decode::normalize(text, false);
        self.piece(&piece, found);
        for i in self.header.matches(piece.as_bytes()).iter() {
            found.add(HEADER_RULES[i].category, HEADER_RULES[i].name, &piece);
        }
    }

    /// The rules of every piece and of its shell view. Most pieces match nothing: each set
    /// is asked whether anything matches before which rules do (which allocates).
    fn piece(&self, piece: &str, found: &mut Finding) {
        if is_plain(piece) {
            if self.plain.is_match(piece.as_bytes()) {
                for i in self.plain.matches(piece.as_bytes()).iter() {
                    let r = self.plain_rules[i];
                    found.add(r.category, r.name, piece);
                }
            }
            return;
        }
        let piece = fold_lookups(piece);
        if self.all.is_match(piece.as_bytes()) {
            for i in self.all.matches(piece.as_bytes()).iter() {
                found.add(RULES[i].category, RULES[i].name, &piece);
            }
        }
        let quoted = piece
            .bytes()
            .any(|b| matches!(b, b'\\' | b'\'' | b'"' | b'$' | b'`' | b'<' | b'>'));
        let shell = if quoted {
            std::borrow::Cow::Owned(decode::shell_view(&piece))
        } else {
            std::borrow::Cow::Borrowed(&*piece)
        };
        if self.shell.is_match(shell.as_bytes()) {
            for i in self.shell.matches(shell.as_bytes()).iter() {
                found.add(SHELL_RULES[i].category, SHELL_RULES[i].name, &piece);
            }
        }
        if quoted && *shell != *piece && self.obfuscated.is_match(shell.as_bytes()) {
            for i in self.obfuscated.matches(shell.as_bytes()).iter() {
                found.add(
                    OBFUSCATED_RULES[i].category,
                    OBFUSCATED_RULES[i].name,
                    &piece,
                );
            }
        }
    }

    fn ssrf(&self, piece: &str, found: &mut Finding) {
        let value = piece.split_once('=').map_or(piece, |(_, v)| v);
        if let Some(why) = host::ssrf(value) {
            found.add(Category::Ssrf, why, piece);
        }
    }
}

/// Whether a piece of a target is worth normalizing and matching: one of only ASCII letters,
/// digits, `/`, `_`, `,` and `-` (most paths and bare parameter names) is not. Of the rules,
/// only `system-file` could match such a piece (`/proc/self/environ` as a path); the probe
/// tokens of [`crate::patterns`] see the target as sent, `/etc/passwd` and its kin among
/// them. Checked on the raw text, so an encoded character (`%`) always counts.
fn needs_inspection(raw: &str) -> bool {
    !raw.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b','))
}

/// Log4j lookups that only spell letters folded to those letters (`${lower:j}`, `${::-n}`,
/// `${env:X:-d}`), so that `${jndi:` is seen however it was spelt.
fn fold_lookups(piece: &str) -> std::borrow::Cow<'_, str> {
    if !piece.contains("${") {
        return std::borrow::Cow::Borrowed(piece);
    }
    let mut s = piece.to_string();
    for _ in 0..8 {
        // The innermost lookup: the last `${` before the first `}`.
        let Some((open, close)) = s.find("${").and_then(|from| {
            let close = s[from..].find('}')? + from;
            s[..close].rfind("${").map(|open| (open, close))
        }) else {
            break;
        };
        let inner = &s[open + 2..close];
        let letters = if let Some((_, default)) = inner.rsplit_once(":-") {
            default.to_string()
        } else if let Some(x) = inner
            .strip_prefix("lower:")
            .or_else(|| inner.strip_prefix("upper:"))
        {
            x.to_string()
        } else {
            break;
        };
        s.replace_range(open..=close, &letters);
    }
    std::borrow::Cow::Owned(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(target: &str, agent: Option<&str>) -> Vec<&'static str> {
        let inspector = Inspector::new();
        let mut f = Finding::default();
        inspector.target(target, &mut f);
        if let Some(a) = agent {
            inspector.header(a, &mut f);
        }
        Category::of_mask(f.mask).map(Category::name).collect()
    }

    #[test]
    fn attacks_are_named_by_their_syntax_however_encoded() {
        for (target, want) in [
            ("/item?id=1%27%20OR%20%271%27%3D%271", "sql-injection"),
            (
                "/item?id=1%2527%2520union%2520select%25201,2",
                "sql-injection",
            ),
            ("/p?q=%3Cscr%00ipt%3E", "none"),
            ("/p?q=%3Csvg/onload%3Dalert(1)%3E", "xss"),
            ("/p?q=%26lt;script%26gt;", "xss"),
            ("/p?host=a.com;c$@at+/et$@c/pas$@swd", "command-injection"),
            ("/p?x=${${lower:j}${::-n}di:ldap://e/a}", "log4shell"),
            ("/p?url=http://0xA9FEA9FE/", "ssrf"),
            ("/p?f=..%252f..%252fetc%252fpasswd", "path-traversal"),
            ("/p?x={{7*7}}", "code-injection"),
            ("/p?c=%3C%3Fphp%20system('id');", "php-injection"),
            ("/p?q=a)(%7C(uid%3D*", "ldap-injection"),
            ("/p?x=foo%0d%0aSet-Cookie:%20a=b", "header-injection"),
            (
                "/p?page=http://203.0.113.7/shell.txt",
                "remote-file-inclusion",
            ),
        ] {
            let got = names(target, None);
            if want == "none" {
                assert!(got.is_empty(), "{target}: {got:?}");
            } else {
                assert!(got.contains(&want), "{target}: {got:?}");
            }
        }
    }

    /// A Referer to the site's own address is where the visitor came from, not a URL for the
    /// application to include.
    #[test]
    fn a_referer_to_an_address_is_not_an_inclusion() {
        let inspector = Inspector::new();
        let mut f = Finding::default();
        inspector.header("http://172.16.0.1/dv/page.php?id=1", &mut f);
        inspector.header("https://shop.example/?", &mut f);
        assert_eq!(f.mask, 0, "{:?}", f.first);
    }

    #[test]
    fn ordinary_requests_and_browsers_are_left_alone() {
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
        for target in [
            "/",
            "/search?q=select+shoes+from+the+sale&page=2",
            "/blog/2024/05/union-station-photos",
            "/api/v1/orders?since=2026-01-01T10:00:00Z&sort=id",
            "/p?url_slug=my--slugified-url",
            "/p?text=Don%27t+quit",
            "/p?formula=(a%2Bb)*c",
            "/p?time=12:30:45",
            "/p?text=Times+%26+Schedule",
            "/p?email=user@example.com",
            "/p?redirect=https://www.example.com/cart?x=1",
            "/p?q=how+was+your+day+today%3F",
            "/~user/file.txt",
            "/assets/fonts/Inter.ttf",
            "/p?online=1&onboarding=done",
        ] {
            assert_eq!(names(target, Some(chrome)), Vec::<&str>::new(), "{target}");
        }
    }
}

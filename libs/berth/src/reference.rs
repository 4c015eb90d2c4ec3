//! Image references (`busybox`, `quay.io/a/b:1.0`, `localhost:5000/x@sha256:...`), parsed and
//! normalised exactly as Docker does (github.com/distribution/reference: `ParseNormalizedNamed`,
//! `TagNameOnly`, `FamiliarName`, `FamiliarString`), and the `oci:DIR[:REF]` form naming an image
//! in an OCI layout directory (skopeo's `oci:` transport).
//!
//! The grammar:
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [domain '/'] remote-name
//! domain           := host [':' port-number]
//! host             := domain-name | IPv4address | \[ IPv6address \]
//! domain-name      := domain-component ['.' domain-component]*
//! domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//! port-number      := /[0-9]+/
//! remote-name      := path-component ['/' path-component]*
//! path-component   := alpha-numeric [separator alpha-numeric]*
//! alpha-numeric    := /[a-z0-9]+/
//! separator        := /[_.]|__|[-]+/
//! tag              := /[\w][\w.-]{0,127}/
//! digest           := sha256:<64 lower hex> | sha512:<128 lower hex>
//! ```
//!
//! Normalisation: the first `/`-separated element is the registry domain only when it contains a
//! `.` or a `:`, is `localhost`, or has upper-case letters; otherwise the domain is `docker.io`.
//! `index.docker.io` is `docker.io`, and a one-element name on Docker Hub is in `library/`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::digest::{is_hex_id, Digest, DigestError};

/// Docker Hub's canonical domain.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// Docker Hub's legacy domain, normalised to [`DEFAULT_DOMAIN`].
pub const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// The namespace of Docker Hub's official images.
pub const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The tag [`Reference::with_default_tag`] adds.
pub const DEFAULT_TAG: &str = "latest";
/// The most characters a full name (`domain/path`) may have.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;
/// The most characters a tag may have.
pub const TAG_LENGTH_MAX: usize = 128;
/// The prefix of an image in an OCI layout directory: `oci:DIR[:REF]`.
pub const LAYOUT_PREFIX: &str = "oci:";

/// Why a string is not an image reference. Every message names the offending input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference \"\": empty reference")]
    Empty,

    #[error("invalid reference {0:?}: contains whitespace or a control character")]
    Whitespace(String),

    #[error(
        "invalid reference {0:?}: cannot specify 64-byte hexadecimal strings \
         (that is an image ID, not a repository name)"
    )]
    HexId(String),

    #[error(
        "invalid reference {input:?}: invalid registry host {domain:?} (expected a host name, \
         an IPv4 address or a [bracketed] IPv6 address, optionally followed by :PORT)"
    )]
    Domain { input: String, domain: String },

    #[error("invalid reference {input:?}: missing repository name")]
    MissingName { input: String },

    #[error("invalid reference {input:?}: repository name must be lowercase")]
    Uppercase { input: String },

    #[error(
        "invalid reference {input:?}: repository name {path:?} has an empty path component \
         (a leading, trailing or doubled '/')"
    )]
    EmptyComponent { input: String, path: String },

    #[error(
        "invalid reference {input:?}: invalid repository name component {component:?} \
         (use lower-case letters and digits, separated by '.', '_', '__' or dashes)"
    )]
    Component { input: String, component: String },

    #[error(
        "invalid reference {input:?}: name too long ({len} characters, at most {})",
        NAME_TOTAL_LENGTH_MAX
    )]
    NameTooLong { input: String, len: usize },

    #[error("invalid reference {input:?}: empty tag")]
    EmptyTag { input: String },

    #[error("invalid reference {input:?}: invalid tag {tag:?}: {reason}")]
    Tag {
        input: String,
        tag: String,
        reason: String,
    },

    /// A tag given on its own (to [`Reference::with_tag`]) is invalid.
    #[error("invalid tag {tag:?}: {reason}")]
    InvalidTag { tag: String, reason: String },

    #[error("invalid reference {input:?}: empty digest after '@'")]
    EmptyDigest { input: String },

    #[error("invalid reference {input:?}: {error}")]
    Digest { input: String, error: DigestError },

    #[error("invalid image name {input:?}: empty OCI layout directory (expected oci:DIR[:REF])")]
    EmptyLayoutDir { input: String },
}

/// A normalised image reference: a registry domain, a repository path, and an optional tag
/// and/or digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Docker's `ParseNormalizedNamed`: parses and normalises `s` (`busybox` is
    /// `docker.io/library/busybox`). No default tag is added.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ReferenceError::Whitespace(s.to_string()));
        }
        if s.len() == 64 && is_hex_id(s) {
            return Err(ReferenceError::HexId(s.to_string()));
        }
        let input = || s.to_string();

        let (domain, explicit_domain, rest) = split_docker_domain(s);
        let (name_tag, digest) = match rest.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (rest, None),
        };
        let (user_path, tag) = match name_tag.split_once(':') {
            Some((p, t)) => (p, Some(t)),
            None => (name_tag, None),
        };

        if explicit_domain && !valid_domain(domain) {
            return Err(ReferenceError::Domain {
                input: input(),
                domain: domain.to_string(),
            });
        }
        if user_path.is_empty() {
            return Err(ReferenceError::MissingName { input: input() });
        }
        if user_path.to_lowercase() != user_path {
            return Err(ReferenceError::Uppercase { input: input() });
        }
        for component in user_path.split('/') {
            if component.is_empty() {
                return Err(ReferenceError::EmptyComponent {
                    input: input(),
                    path: user_path.to_string(),
                });
            }
            if !valid_path_component(component) {
                return Err(ReferenceError::Component {
                    input: input(),
                    component: component.to_string(),
                });
            }
        }

        let tag = match tag {
            None => None,
            Some("") => return Err(ReferenceError::EmptyTag { input: input() }),
            Some(t) => {
                check_tag(t).map_err(|reason| ReferenceError::Tag {
                    input: input(),
                    tag: t.to_string(),
                    reason,
                })?;
                Some(t.to_string())
            }
        };
        let digest = match digest {
            None => None,
            Some("") => return Err(ReferenceError::EmptyDigest { input: input() }),
            Some(d) => Some(Digest::parse(d).map_err(|error| ReferenceError::Digest {
                input: input(),
                error,
            })?),
        };

        let path = if domain == DEFAULT_DOMAIN && !user_path.contains('/') {
            format!("{OFFICIAL_REPO_PREFIX}{user_path}")
        } else {
            user_path.to_string()
        };
        // Everything is ASCII by now, so bytes are characters.
        let len = domain.len() + 1 + path.len();
        if len > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong {
                input: input(),
                len,
            });
        }

        Ok(Reference {
            domain: domain.to_string(),
            path,
            tag,
            digest,
        })
    }

    /// [`Reference::parse`], then [`Reference::with_default_tag`].
    pub fn parse_with_default_tag(s: &str) -> Result<Reference, ReferenceError> {
        Ok(Reference::parse(s)?.with_default_tag())
    }

    /// Docker's `TagNameOnly`: adds the tag `latest` when there is neither tag nor digest.
    pub fn with_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    /// The registry: `docker.io`, `localhost:5000`, `[::1]:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path within the registry: `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The full name, without tag or digest: `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// Whether the image is on Docker Hub.
    pub fn is_docker_hub(&self) -> bool {
        self.domain == DEFAULT_DOMAIN
    }

    /// Docker's `FamiliarName`: the name as Docker shows it (`busybox`, `user/app`,
    /// `localhost:5000/x`, `quay.io/a/b`).
    pub fn familiar_name(&self) -> String {
        if !self.is_docker_hub() {
            return self.name();
        }
        match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            // `library/a/b` stays as it is: only one-element official names are shortened.
            Some(short) if !short.contains('/') => short.to_string(),
            _ => self.path.clone(),
        }
    }

    /// Docker's `FamiliarString`: the familiar name, then `:tag` and `@digest` as present.
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_name();
        self.push_tag_and_digest(&mut s);
        s
    }

    /// The same name with `tag` and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        check_tag(tag).map_err(|reason| ReferenceError::InvalidTag {
            tag: tag.to_string(),
            reason,
        })?;
        Ok(Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        })
    }

    /// The same name with digest `d` and no tag.
    pub fn with_digest(&self, d: Digest) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: Some(d),
        }
    }

    /// Just the name, without tag or digest.
    pub fn without_tag_or_digest(&self) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }

    fn push_tag_and_digest(&self, s: &mut String) {
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
    }
}

/// Docker's `splitDockerDomain`: the domain (normalised), whether it was given explicitly, and
/// the rest of the string (path, tag and digest, without the `library/` prefix).
fn split_docker_domain(s: &str) -> (&str, bool, &str) {
    match s.split_once('/') {
        Some((first, rest))
            if first == "localhost"
                || first.contains(['.', ':'])
                || first.to_lowercase() != first =>
        {
            if first == LEGACY_DEFAULT_DOMAIN {
                (DEFAULT_DOMAIN, false, rest)
            } else {
                (first, true, rest)
            }
        }
        _ => (DEFAULT_DOMAIN, false, s),
    }
}

/// `host [':' port]`, where host is a domain name, an IPv4 address or a bracketed IPv6 address.
fn valid_domain(d: &str) -> bool {
    let (host_ok, port) = if let Some(inner) = d.strip_prefix('[') {
        match inner.split_once(']') {
            Some((addr, port)) => (
                !addr.is_empty() && addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':'),
                port,
            ),
            None => return false,
        }
    } else {
        let (host, port) = match d.find(':') {
            Some(i) => d.split_at(i),
            None => (d, ""),
        };
        (host.split('.').all(valid_domain_component), port)
    };
    host_ok
        && (port.is_empty()
            || port
                .strip_prefix(':')
                .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
}

/// `[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`
fn valid_domain_component(c: &str) -> bool {
    let b = c.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
        }
        _ => false,
    }
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    fn alnum(x: u8) -> bool {
        x.is_ascii_lowercase() || x.is_ascii_digit()
    }
    let b = c.as_bytes();
    match (b.first(), b.last()) {
        (Some(&first), Some(&last)) if alnum(first) && alnum(last) => {}
        _ => return false,
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &b[start..i];
        if !(matches!(sep, b"." | b"_" | b"__") || sep.iter().all(|&x| x == b'-')) {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`; the error is why not.
fn check_tag(tag: &str) -> Result<(), String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if tag.is_empty() {
        return Err("a tag cannot be empty".to_string());
    }
    if let Some(c) = tag.chars().find(|&c| !(word(c) || c == '.' || c == '-')) {
        return Err(format!(
            "{c:?} is not allowed (a tag may contain only letters, digits, '_', '.' and '-')"
        ));
    }
    if !tag.starts_with(word) {
        return Err("a tag must start with a letter, a digit or '_'".to_string());
    }
    if tag.len() > TAG_LENGTH_MAX {
        return Err(format!(
            "too long ({} characters, at most {TAG_LENGTH_MAX})",
            tag.len()
        ));
    }
    Ok(())
}

/// The full normalised string: `docker.io/library/busybox:latest`,
/// `host:5000/a/b:t@sha256:...`.
impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        self.push_tag_and_digest(&mut s);
        f.write_str(&s)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Reference::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An image named on the command line: a registry-style reference, or an image in an OCI layout
/// directory (`oci:DIR[:REF]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageName {
    Reference(Reference),
    /// `oci:DIR[:REF]`: REF, when given, is the `org.opencontainers.image.ref.name` annotation,
    /// kept verbatim (it may contain ':' and '/').
    Layout {
        dir: PathBuf,
        reference: Option<String>,
    },
}

impl ImageName {
    /// `oci:DIR[:REF]` is a [`ImageName::Layout`] (DIR ends at the first ':'; an empty REF is
    /// none, as in skopeo); anything else is [`Reference::parse`]d (no default tag).
    pub fn parse(s: &str) -> Result<ImageName, ReferenceError> {
        let Some(rest) = s.strip_prefix(LAYOUT_PREFIX) else {
            return Ok(ImageName::Reference(Reference::parse(s)?));
        };
        let (dir, reference) = match rest.split_once(':') {
            Some((dir, r)) => (dir, (!r.is_empty()).then(|| r.to_string())),
            None => (rest, None),
        };
        if dir.is_empty() {
            return Err(ReferenceError::EmptyLayoutDir {
                input: s.to_string(),
            });
        }
        Ok(ImageName::Layout {
            dir: PathBuf::from(dir),
            reference,
        })
    }
}

impl FromStr for ImageName {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageName::parse(s)
    }
}

/// `oci:DIR[:REF]`, or the reference's full normalised string.
impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageName::Reference(r) => r.fmt(f),
            ImageName::Layout { dir, reference } => {
                write!(f, "{LAYOUT_PREFIX}{}", dir.display())?;
                if let Some(r) = reference {
                    write!(f, ":{r}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn sha() -> String {
        format!("sha256:{HEX}")
    }

    /// What parsing an input should give.
    enum Want {
        /// The Display string after `parse`, and after `parse_with_default_tag`.
        Ok(String, String),
        /// An error whose message contains this.
        Err(&'static str),
    }

    fn ok(plain: &str, defaulted: &str) -> Want {
        Want::Ok(plain.to_string(), defaulted.to_string())
    }

    fn same(s: &str) -> Want {
        ok(s, s)
    }

    /// An untagged name: shown as is, and with `:latest` by default.
    fn bare(s: &str) -> Want {
        ok(s, &format!("{s}:latest"))
    }

    /// An official Docker Hub image, untagged.
    fn hub(s: &str) -> Want {
        bare(&format!("docker.io/library/{s}"))
    }

    fn cases() -> Vec<(String, Want)> {
        let sha = sha();
        let sha512 = format!("sha512:{HEX}{HEX}");
        let t128 = "t".repeat(128);
        let t129 = "t".repeat(129);
        // "docker.io/library/" is 18 characters: 237 more make 255.
        let n237 = "a".repeat(237);
        let n238 = "a".repeat(238);
        let lib = "docker.io/library";
        let s = |x: &str| x.to_string();
        let e = Want::Err;
        vec![
            (s("busybox"), hub("busybox")),
            (s("library/busybox"), hub("busybox")),
            (s("docker.io/busybox"), hub("busybox")),
            (s("index.docker.io/busybox"), hub("busybox")),
            (s("index.docker.io/library/busybox"), hub("busybox")),
            (
                s("docker.io/library/busybox:1.36"),
                same(&format!("{lib}/busybox:1.36")),
            ),
            (s("index.docker.io/user/app"), bare("docker.io/user/app")),
            (s("user/app:v1"), same("docker.io/user/app:v1")),
            (s("user/app/sub"), bare("docker.io/user/app/sub")),
            (s("library/a/b"), bare("docker.io/library/a/b")),
            (s("localhost/x"), bare("localhost/x")),
            (s("localhost"), hub("localhost")),
            (s("localhost:5000"), same(&format!("{lib}/localhost:5000"))),
            (s("localhost:5000/x/y:t"), same("localhost:5000/x/y:t")),
            (s("127.0.0.1:5000/a"), bare("127.0.0.1:5000/a")),
            (s("[::1]:5000/a"), bare("[::1]:5000/a")),
            (s("[fe80::1]/a:t"), same("[fe80::1]/a:t")),
            (s("quay.io/a/b/c:1.0"), same("quay.io/a/b/c:1.0")),
            (s("myhost:5000/x"), bare("myhost:5000/x")),
            (s("Foo.com/bar"), bare("Foo.com/bar")),
            (s("UPPER/x"), bare("UPPER/x")),
            (
                s("reg-1.example.com:443/team/app:v2"),
                same("reg-1.example.com:443/team/app:v2"),
            ),
            (
                format!("busybox@{sha}"),
                same(&format!("{lib}/busybox@{sha}")),
            ),
            (
                format!("busybox:1.36@{sha}"),
                same(&format!("{lib}/busybox:1.36@{sha}")),
            ),
            (
                format!("quay.io/a/b@{sha512}"),
                same(&format!("quay.io/a/b@{sha512}")),
            ),
            (s("foo_bar"), hub("foo_bar")),
            (s("foo__bar"), hub("foo__bar")),
            (s("foo-------bar"), hub("foo-------bar")),
            (s("a.b"), hub("a.b")),
            (s("a.b/c"), bare("a.b/c")),
            (s("0"), hub("0")),
            (
                s("busybox:Latest_1.0-rc"),
                same(&format!("{lib}/busybox:Latest_1.0-rc")),
            ),
            (s("busybox:_x"), same(&format!("{lib}/busybox:_x"))),
            (
                format!("busybox:{t128}"),
                same(&format!("{lib}/busybox:{t128}")),
            ),
            (format!("{HEX}:tag"), same(&format!("{lib}/{HEX}:tag"))),
            (n237.clone(), hub(&n237)),
            // Errors.
            (s(""), e("invalid reference \"\": empty reference")),
            (
                s(":"),
                e("invalid reference \":\": missing repository name"),
            ),
            (s(":tag"), e("missing repository name")),
            (s("docker.io/"), e("missing repository name")),
            (
                s("busybox:"),
                e("invalid reference \"busybox:\": empty tag"),
            ),
            (format!("@{sha}"), e("missing repository name")),
            (
                s("busybox@"),
                e("invalid reference \"busybox@\": empty digest"),
            ),
            (
                s("busybox@sha256:abc"),
                e("invalid digest \"sha256:abc\": sha256 needs 64"),
            ),
            (
                s("a@sha256:12"),
                e("invalid reference \"a@sha256:12\": invalid digest"),
            ),
            (
                format!("busybox@md5:{}", &HEX[..32]),
                e("unsupported algorithm \"md5\""),
            ),
            (
                format!("busybox@sha256:{}", HEX.to_uppercase()),
                e("lower-case hex"),
            ),
            (format!("busybox@{sha}@{sha}"), e("invalid digest")),
            (
                s("Busybox"),
                e("invalid reference \"Busybox\": repository name must be lowercase"),
            ),
            (s("user/App"), e("repository name must be lowercase")),
            (
                s("docker.io/Busybox"),
                e("repository name must be lowercase"),
            ),
            (s("quay.io/A/b:T"), e("repository name must be lowercase")),
            (s("a//b"), e("empty path component")),
            (s("/a"), e("empty path component")),
            (s("a/"), e("empty path component")),
            (s("-a"), e("invalid repository name component \"-a\"")),
            (s("a-"), e("invalid repository name component \"a-\"")),
            (s("a_"), e("invalid repository name component \"a_\"")),
            (s("_a"), e("invalid repository name component \"_a\"")),
            (s("a..b"), e("invalid repository name component \"a..b\"")),
            (s("a___b"), e("invalid repository name component \"a___b\"")),
            (s("a.-b"), e("invalid repository name component \"a.-b\"")),
            (s("a+b"), e("invalid repository name component \"a+b\"")),
            (s("café"), e("invalid repository name component \"café\"")),
            (
                s("x:-bad"),
                e("invalid reference \"x:-bad\": invalid tag \"-bad\""),
            ),
            (s("x:.bad"), e("invalid tag \".bad\": a tag must start")),
            (s("foo:bar:baz"), e("invalid tag \"bar:baz\"")),
            (s("foo:bar/baz"), e("invalid registry host \"foo:bar\"")),
            (
                format!("busybox:{t129}"),
                e("too long (129 characters, at most 128)"),
            ),
            (n238, e("name too long (256 characters, at most 255)")),
            (
                format!("quay.io/{}", "a".repeat(292)),
                e("name too long (300 characters, at most 255)"),
            ),
            (s(HEX), e("cannot specify 64-byte hexadecimal strings")),
            (s("busy box"), e("contains whitespace")),
            (s(" busybox"), e("contains whitespace")),
            (s("busybox\n"), e("contains whitespace")),
            (s("a_b.com/x"), e("invalid registry host \"a_b.com\"")),
            (s("-a.com/x"), e("invalid registry host \"-a.com\"")),
            (s("a..com/x"), e("invalid registry host \"a..com\"")),
            (s("host:/x"), e("invalid registry host \"host:\"")),
            (s("host:50a/x"), e("invalid registry host \"host:50a\"")),
            (s("::1/x"), e("invalid registry host \"::1\"")),
            (s("[]:5000/x"), e("invalid registry host \"[]:5000\"")),
            (s("[::1/x"), e("invalid registry host \"[::1\"")),
            (s("[::g]/x"), e("invalid registry host \"[::g]\"")),
            (s("[::1]x/y"), e("invalid registry host \"[::1]x\"")),
            (s("Up_per/x"), e("invalid registry host \"Up_per\"")),
        ]
    }

    #[test]
    fn table() {
        let cases = cases();
        assert!(cases.len() >= 50, "{} cases", cases.len());
        for (input, want) in cases {
            let got = Reference::parse(&input);
            let got_default = Reference::parse_with_default_tag(&input);
            match want {
                Want::Ok(plain, defaulted) => {
                    let r = got.unwrap_or_else(|e| panic!("{input:?}: {e}"));
                    assert_eq!(r.to_string(), plain, "{input:?}");
                    let d = got_default.unwrap_or_else(|e| panic!("{input:?}: {e}"));
                    assert_eq!(d.to_string(), defaulted, "{input:?}");
                    // The normalised string parses to the same reference.
                    assert_eq!(Reference::parse(&plain).unwrap(), r, "{input:?}");
                    assert_eq!(plain.parse::<Reference>().unwrap(), r, "{input:?}");
                    assert_eq!(ImageName::parse(&input).unwrap(), ImageName::Reference(r));
                }
                Want::Err(fragment) => {
                    let e = match got {
                        Ok(r) => panic!("{input:?} should be refused, got {r}"),
                        Err(e) => e.to_string(),
                    };
                    assert!(e.contains(fragment), "{input:?}: {e:?} lacks {fragment:?}");
                    assert!(got_default.is_err(), "{input:?}");
                    assert!(ImageName::parse(&input).is_err(), "{input:?}");
                }
            }
        }
    }

    #[test]
    fn parts() {
        let r = Reference::parse(&format!("localhost:5000/x/y:t@{}", sha())).unwrap();
        assert_eq!(r.domain(), "localhost:5000");
        assert_eq!(r.path(), "x/y");
        assert_eq!(r.tag(), Some("t"));
        assert_eq!(r.digest().unwrap().to_string(), sha());
        assert_eq!(r.name(), "localhost:5000/x/y");
        assert!(!r.is_docker_hub());

        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.domain(), "docker.io");
        assert_eq!(r.path(), "library/busybox");
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest(), None);
        assert!(r.is_docker_hub());
    }

    #[test]
    fn familiar() {
        let sha = sha();
        for (input, name, string) in [
            ("busybox", "busybox", "busybox"),
            ("docker.io/library/busybox:1", "busybox", "busybox:1"),
            ("index.docker.io/busybox", "busybox", "busybox"),
            ("user/app:v1", "user/app", "user/app:v1"),
            ("docker.io/library/a/b:t", "library/a/b", "library/a/b:t"),
            ("localhost/x", "localhost/x", "localhost/x"),
            (
                "localhost:5000/x:1",
                "localhost:5000/x",
                "localhost:5000/x:1",
            ),
            ("quay.io/a/b", "quay.io/a/b", "quay.io/a/b"),
            ("[::1]:5000/a:t", "[::1]:5000/a", "[::1]:5000/a:t"),
            ("UPPER/x", "UPPER/x", "UPPER/x"),
        ] {
            let r = Reference::parse(input).unwrap();
            assert_eq!(r.familiar_name(), name, "{input}");
            assert_eq!(r.familiar_string(), string, "{input}");
        }
        let r = Reference::parse(&format!("busybox:1.36@{sha}")).unwrap();
        assert_eq!(r.familiar_string(), format!("busybox:1.36@{sha}"));
        let r = Reference::parse_with_default_tag("busybox").unwrap();
        assert_eq!(r.familiar_string(), "busybox:latest");
    }

    #[test]
    fn default_tag_only_without_tag_or_digest() {
        let d = Digest::parse(&sha()).unwrap();
        let r = Reference::parse("busybox").unwrap().with_digest(d.clone());
        assert_eq!(r.clone().with_default_tag(), r);
        let r = Reference::parse("busybox:1").unwrap();
        assert_eq!(r.clone().with_default_tag(), r);
        let r = Reference::parse("busybox").unwrap().with_default_tag();
        assert_eq!(r.tag(), Some("latest"));
        assert_eq!(r.digest(), None);
    }

    #[test]
    fn with_tag_digest_and_bare() {
        let d = Digest::parse(&sha()).unwrap();
        let r = Reference::parse(&format!("quay.io/a/b:1@{}", sha())).unwrap();
        let t = r.with_tag("2").unwrap();
        assert_eq!(t.to_string(), "quay.io/a/b:2");
        let w = r.with_digest(d.clone());
        assert_eq!(w.to_string(), format!("quay.io/a/b@{}", sha()));
        assert_eq!(w.digest(), Some(&d));
        assert_eq!(r.without_tag_or_digest().to_string(), "quay.io/a/b");
        for bad in ["", "-x", ".x", "a/b", "a:b", &"x".repeat(129)] {
            let e = r.with_tag(bad).unwrap_err();
            assert!(
                e.to_string().starts_with(&format!("invalid tag {bad:?}")),
                "{e}"
            );
        }
        assert!(r.with_tag(&"x".repeat(128)).is_ok());
    }

    #[test]
    fn serde_round_trip() {
        let sha = sha();
        for input in [
            "busybox",
            "busybox:latest",
            "user/app:v1",
            "localhost:5000/x/y:t",
            "[::1]:5000/a",
            "UPPER/x",
            &format!("quay.io/a/b:1@{sha}"),
        ] {
            let r = Reference::parse(input).unwrap();
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{r}\""));
            let back: Reference = serde_json::from_str(&json).unwrap();
            assert_eq!(back, r, "{input}");
        }
        let e = serde_json::from_str::<Reference>("\"Busybox\"").unwrap_err();
        assert!(e.to_string().contains("must be lowercase"), "{e}");
    }

    #[test]
    fn layouts() {
        let layout = |dir: &str, r: Option<&str>| ImageName::Layout {
            dir: PathBuf::from(dir),
            reference: r.map(str::to_string),
        };
        for (input, want) in [
            ("oci:/tmp/x", layout("/tmp/x", None)),
            ("oci:/tmp/x:", layout("/tmp/x", None)),
            ("oci:/tmp/x:latest", layout("/tmp/x", Some("latest"))),
            ("oci:/tmp/x:foo:bar", layout("/tmp/x", Some("foo:bar"))),
            ("oci:rel/dir:v1", layout("rel/dir", Some("v1"))),
            (
                "oci:/var/lib/berth/images:docker.io/library/busybox:latest",
                layout(
                    "/var/lib/berth/images",
                    Some("docker.io/library/busybox:latest"),
                ),
            ),
        ] {
            let got = ImageName::parse(input).unwrap();
            assert_eq!(got, want, "{input}");
            assert_eq!(input.parse::<ImageName>().unwrap(), want);
            let shown = got.to_string();
            assert_eq!(shown, input.trim_end_matches(':'), "{input}");
        }
        for bad in ["oci:", "oci::ref"] {
            let e = ImageName::parse(bad).unwrap_err().to_string();
            assert!(
                e.contains(&format!(
                    "invalid image name {bad:?}: empty OCI layout directory"
                )),
                "{e}"
            );
        }
        // Without the prefix it is a reference; "oci" alone is a repository name.
        assert_eq!(
            ImageName::parse("oci").unwrap().to_string(),
            "docker.io/library/oci"
        );
    }
}

// TEMPORARY STUB (being replaced by the real implementation)
use crate::digest::Digest;
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid reference {0:?}")]
pub struct ReferenceError(String);
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}
impl Reference {
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        if s.is_empty() || s.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ReferenceError(s.into()));
        }
        let (name, digest) = match s.split_once('@') {
            Some((n, d)) => (
                n,
                Some(Digest::parse(d).map_err(|_| ReferenceError(s.into()))?),
            ),
            None => (s, None),
        };
        let (name, tag) = match name.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n, Some(t.to_string())),
            _ => (name, None),
        };
        let (domain, path) = match name.split_once('/') {
            Some((d, p)) if d.contains('.') || d.contains(':') || d == "localhost" => {
                (d.to_string(), p.to_string())
            }
            _ => (
                "docker.io".to_string(),
                if name.contains('/') {
                    name.to_string()
                } else {
                    format!("library/{name}")
                },
            ),
        };
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }
    pub fn parse_with_default_tag(s: &str) -> Result<Reference, ReferenceError> {
        Ok(Self::parse(s)?.with_default_tag())
    }
    pub fn with_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some("latest".into());
        }
        self
    }
    pub fn domain(&self) -> &str {
        &self.domain
    }
    pub fn path(&self) -> &str {
        &self.path
    }
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }
    pub fn familiar_name(&self) -> String {
        if self.domain == "docker.io" {
            self.path
                .strip_prefix("library/")
                .unwrap_or(&self.path)
                .to_string()
        } else {
            self.name()
        }
    }
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_name();
        if let Some(t) = &self.tag {
            s += ":";
            s += t;
        }
        if let Some(d) = &self.digest {
            s += &format!("@{d}");
        }
        s
    }
}
impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageName {
    Reference(Reference),
    Layout {
        dir: std::path::PathBuf,
        reference: Option<String>,
    },
}
impl ImageName {
    pub fn parse(s: &str) -> Result<ImageName, ReferenceError> {
        if let Some(r) = s.strip_prefix("oci:") {
            let (d, n) = match r.split_once(':') {
                Some((d, n)) => (d, Some(n.to_string())),
                None => (r, None),
            };
            return Ok(ImageName::Layout {
                dir: d.into(),
                reference: n,
            });
        }
        Ok(ImageName::Reference(Reference::parse(s)?))
    }
}

//! The entries of `index.json` and resolving what a user typed to one image.

use std::collections::HashMap;

use oci_spec::image::Descriptor;

use crate::digest::{is_hex_id, Digest};
use crate::error::{Error, Result};
use crate::reference::{ImageName, Reference};
use crate::store::{annotation, Layout, REF_NAME, TAG_TIME};

use super::*;

/// One entry of `index.json`.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The raw `org.opencontainers.image.ref.name`, if any.
    pub name: Option<String>,
    /// That name parsed and normalised, when it is a reference (skopeo may write a bare tag).
    pub reference: Option<Reference>,
    pub descriptor: Descriptor,
    pub digest: Digest,
}

impl Entry {
    fn from_descriptor(desc: &Descriptor) -> Result<Entry> {
        let digest = Digest::try_from(desc.digest())?;
        let name = annotation(desc, REF_NAME).map(str::to_string);
        let reference = name
            .as_deref()
            .and_then(|n| Reference::parse_with_default_tag(n).ok());
        Ok(Entry {
            name,
            reference,
            descriptor: desc.clone(),
            digest,
        })
    }

    /// The digest of what the image came as: the manifest or index named by the entry's
    /// `io.berth.image.original` annotation, else the entry's own.
    pub fn original_digest(&self) -> Digest {
        annotation(&self.descriptor, crate::store::ORIGINAL)
            .and_then(|o| Digest::parse(o).ok())
            .unwrap_or_else(|| self.digest.clone())
    }

    /// When this entry was last tagged by berth.
    pub fn tag_time(&self) -> Option<&str> {
        annotation(&self.descriptor, TAG_TIME)
    }

    /// The entry's name as Docker would show it: `busybox:latest`, `localhost:5000/x:1`.
    pub fn familiar(&self) -> Option<String> {
        match (&self.reference, &self.name) {
            (Some(r), _) => Some(r.familiar_string()),
            (None, Some(n)) => Some(n.clone()),
            _ => None,
        }
    }

    fn matches(&self, want: &Reference) -> bool {
        match &self.reference {
            Some(r) => r == want,
            None => false,
        }
    }
}

/// Every entry of a layout with its image loaded (or why it could not be).
pub struct Catalog {
    pub items: Vec<Item>,
}

pub struct Item {
    pub entry: Entry,
    pub image: Result<Image>,
}

impl Catalog {
    pub fn load(layout: &Layout) -> Result<Catalog> {
        let index = layout.read_index()?;
        let mut items = Vec::new();
        // By entry and the manifest it stands for (crate::store::ORIGINAL).
        let mut cache: HashMap<(Digest, Option<String>), Image> = HashMap::new();
        for desc in index.manifests() {
            let entry = Entry::from_descriptor(desc)?;
            let key = (
                entry.digest.clone(),
                annotation(desc, crate::store::ORIGINAL).map(str::to_string),
            );
            let image = match cache.get(&key) {
                Some(img) => Ok(img.clone()),
                None => Image::load(layout, desc, None),
            };
            if let Ok(img) = &image {
                cache.insert(key, img.clone());
            }
            items.push(Item { entry, image });
        }
        Ok(Catalog { items })
    }

    /// The entries (tags and untagged entries) whose image has this ID.
    pub fn entries_of<'c>(&'c self, id: &'c Digest) -> impl Iterator<Item = &'c Entry> + 'c {
        self.items
            .iter()
            .filter(move |i| i.image.as_ref().is_ok_and(|img| img.id() == id))
            .map(|i| &i.entry)
    }

    /// Finds the image a user named: a reference (`busybox`, `host:5000/a:t`, `name@digest`), a
    /// full image ID or manifest digest (`sha256:…` or 64 hex), or a unique prefix of an image ID.
    /// References win over ID prefixes, as in Docker.
    pub fn find(&self, query: &str) -> Result<&Item> {
        let q = query.strip_prefix("sha256:").filter(|_| query.len() == 71);
        if let Some(hex) = q.or(Some(query).filter(|s| s.len() == 64 && is_hex_id(s))) {
            let d = Digest::parse(&format!("sha256:{hex}"))?;
            return self
                .find_digest(&d)
                .ok_or_else(|| Error::ImageNotFound(query.into()));
        }
        let parsed = Reference::parse(query);
        if let Ok(r) = &parsed {
            if let Some(item) = self.find_reference(r) {
                return Ok(item);
            }
        }
        if query.len() >= 4 && is_hex_id(query) {
            let mut hits: Vec<&Item> = Vec::new();
            for item in &self.items {
                if let Ok(img) = &item.image {
                    if img.id().hex().starts_with(query)
                        && !hits.iter().any(|h| same_image(h, item))
                    {
                        hits.push(item);
                    }
                }
            }
            match hits.len() {
                0 => {}
                1 => return Ok(hits[0]),
                _ => {
                    return Err(Error::AmbiguousImageId {
                        prefix: query.into(),
                        candidates: hits
                            .iter()
                            .filter_map(|h| h.image.as_ref().ok())
                            .map(|i| i.id().short().to_string())
                            .collect(),
                    })
                }
            }
        }
        match parsed {
            Err(e) => Err(e.into()),
            Ok(r) => Err(Error::ImageNotFound(r.with_default_tag().familiar_string())),
        }
    }

    fn find_digest(&self, d: &Digest) -> Option<&Item> {
        let tagged_first = |pred: &dyn Fn(&Item) -> bool| {
            let hits: Vec<&Item> = self.items.iter().filter(|i| pred(i)).collect();
            hits.iter()
                .find(|i| i.entry.name.is_some())
                .or(hits.first())
                .copied()
        };
        tagged_first(&|i: &Item| i.image.as_ref().is_ok_and(|img| img.id() == d)).or_else(|| {
            tagged_first(&|i: &Item| {
                i.entry.digest == *d
                    || i.image
                        .as_ref()
                        .is_ok_and(|img| img.manifest_digest == *d || img.digest == *d)
            })
        })
    }

    fn find_reference(&self, r: &Reference) -> Option<&Item> {
        match r.digest() {
            // name@digest: the digest decides; the name must match one of its tags, if any.
            Some(d) => {
                let hits: Vec<&Item> = self
                    .items
                    .iter()
                    .filter(|i| {
                        i.entry.digest == *d
                            || i.image
                                .as_ref()
                                .is_ok_and(|img| img.manifest_digest == *d || img.digest == *d)
                    })
                    .collect();
                hits.iter()
                    .find(|i| {
                        i.entry
                            .reference
                            .as_ref()
                            .is_some_and(|er| er.name() == r.name())
                    })
                    .or(hits.first())
                    .copied()
            }
            None => {
                let want = r.clone().with_default_tag();
                self.items.iter().find(|i| i.entry.matches(&want))
            }
        }
    }
}

pub(crate) fn same_image(a: &Item, b: &Item) -> bool {
    match (&a.image, &b.image) {
        (Ok(x), Ok(y)) => x.id() == y.id(),
        _ => false,
    }
}

/// Opens the image a user named on the command line: `oci:DIR[:REF]` in any layout, anything
/// else in `default` (the store, or `--layout`). Returns the layout, its catalog and the index of
/// the item found.
pub fn open_named(default: &Layout, query: &str) -> Result<(Layout, Catalog, usize)> {
    let (layout, q) = match ImageName::parse(query) {
        Ok(ImageName::Layout { dir, reference }) => (Layout::open(dir)?, reference),
        _ => (default.clone(), Some(query.to_string())),
    };
    let catalog = Catalog::load(&layout)?;
    let idx = match q {
        None => match catalog.items.len() {
            1 => 0,
            0 => {
                return Err(Error::ImageNotFound(format!(
                    "{query}: the layout has no image"
                )))
            }
            n => {
                return Err(Error::InvalidInput(format!(
                    "{query}: the layout has {n} images; name one as oci:DIR:REF"
                )))
            }
        },
        Some(q) => {
            // In a foreign layout the name is matched verbatim first, as skopeo does.
            let exact = catalog
                .items
                .iter()
                .position(|i| i.entry.name.as_deref() == Some(q.as_str()));
            match exact {
                Some(i) => i,
                None => {
                    let item = catalog.find(&q)?;
                    catalog
                        .items
                        .iter()
                        .position(|i| std::ptr::eq(i, item))
                        .expect("item from this catalog")
                }
            }
        }
    };
    if let Err(e) = &catalog.items[idx].image {
        return Err(Error::corrupt(format!("image {query}"), e));
    }
    Ok((layout, catalog, idx))
}

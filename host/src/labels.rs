//! Node labels (`region=eu,disk=ssd`) and task executor selectors, which are
//! written the same way: a host may run a task when it has every label the
//! task's selector names.

use std::collections::BTreeMap;
use std::fmt;

/// A set of `key=value` labels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels(BTreeMap<String, String>);

impl Labels {
    /// Parses `key=value,key=value` (empty text is no labels).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut labels = BTreeMap::new();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .filter(|(k, _)| !k.trim().is_empty())
                .ok_or_else(|| format!("`{item}` is not key=value, e.g. `region=eu,disk=ssd`"))?;
            labels.insert(key.trim().to_owned(), value.trim().to_owned());
        }
        Ok(Self(labels))
    }

    /// Whether these labels satisfy `selector` (every pair present).
    /// An unparsable selector matches nothing.
    pub fn satisfy(&self, selector: Option<&str>) -> bool {
        match selector.map(Labels::parse) {
            None => true,
            Some(Ok(wanted)) => wanted.0.iter().all(|(k, v)| self.0.get(k) == Some(v)),
            Some(Err(_)) => false,
        }
    }
}

impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pairs: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        f.write_str(&pairs.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_need_every_label() {
        let labels = Labels::parse("region=eu, disk=ssd").unwrap();
        assert!(labels.satisfy(None));
        assert!(labels.satisfy(Some("region=eu")));
        assert!(labels.satisfy(Some("disk=ssd,region=eu")));
        assert!(!labels.satisfy(Some("region=us")));
        assert!(!labels.satisfy(Some("gpu=true")));
        assert!(!labels.satisfy(Some("garbage")));
        assert_eq!(labels.to_string(), "disk=ssd,region=eu");
        assert!(Labels::parse("region").unwrap_err().contains("key=value"));
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #[test]
            fn any_text_is_labels_or_an_error_showing_the_bad_item(
                text in prop_oneof![any::<String>(), "([a-z=, ]{0,6}){0,5}"],
                selector in prop_oneof![any::<String>(), "([a-z=, ]{0,6}){0,5}"],
            ) {
                match Labels::parse(&text) {
                    Ok(labels) => {
                        let _ = labels.satisfy(Some(&selector));
                        prop_assert_eq!(Labels::parse(&labels.to_string()), Ok(labels));
                    }
                    Err(error) => prop_assert!(error.contains("is not key=value"), "{error}"),
                }
            }
        }
    }
}

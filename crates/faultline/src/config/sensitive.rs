//! `Sensitive<T>`: a config value (token, password, URL with credentials) that prints as `***`.

use std::fmt;

/// A secret from the config or the environment. `Debug` and `Display` print
/// `***`, so a logged spec or error never shows it; [`Sensitive::expose`]
/// is the one way to read it, greppable at every use.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct Sensitive<T>(T);

impl<T> Sensitive<T> {
    /// Wraps a secret.
    pub(crate) fn new(value: T) -> Sensitive<T> {
        Sensitive(value)
    }

    /// The secret itself, for the one place that sends it.
    pub(crate) fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<T> fmt::Display for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_stars_and_exposes_on_request() {
        #[derive(Debug, serde::Deserialize)]
        struct Sink {
            #[expect(dead_code, reason = "read through Debug only")]
            token: Sensitive<String>,
        }
        let s: Sink = toml::from_str("token = \"hunter2\"").unwrap();
        assert_eq!(format!("{s:?}"), "Sink { token: *** }");
        let t = Sensitive::new("hunter2".to_string());
        assert_eq!(t.to_string(), "***");
        assert_eq!(t.expose(), "hunter2");
    }
}

//! `OrderingFilter`: `?ordering=a,-b`; unknown fields dropped; none valid → the default.

/// A field a list may be ordered by. Each view allows a subset (`PROJECT_ORDERING`,
/// `TASK_ORDERING`); the edge maps each to its column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    CreatedAt,
    DueDate,
    Name,
    Title,
}

impl SortField {
    /// The name clients use in `?ordering=`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::DueDate => "due_date",
            Self::Name => "name",
            Self::Title => "title",
        }
    }
}

/// One key to sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    pub field: SortField,
    pub descending: bool,
}

/// The sort keys of a list, in order. Callers append their own tie-break on `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ordering(pub Vec<SortKey>);

impl Ordering {
    /// Parses `raw` against the fields a view allows; repeats and unknown fields are dropped.
    pub fn parse(raw: Option<&str>, allowed: &[SortField], default: &[SortKey]) -> Self {
        let mut keys: Vec<SortKey> = Vec::new();
        for term in raw.unwrap_or("").split(',').map(str::trim) {
            let (name, descending) = match term.strip_prefix('-') {
                Some(name) => (name, true),
                None => (term, false),
            };
            if let Some(&field) = allowed.iter().find(|f| f.name() == name)
                && !keys.iter().any(|k| k.field == field)
            {
                keys.push(SortKey { field, descending });
            }
        }
        if keys.is_empty() {
            Self(default.to_vec())
        } else {
            Self(keys)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOWED: &[SortField] = &[SortField::CreatedAt, SortField::DueDate, SortField::Title];
    const DEFAULT: &[SortKey] = &[SortKey {
        field: SortField::CreatedAt,
        descending: true,
    }];

    fn keys(raw: &str) -> Vec<(&'static str, bool)> {
        Ordering::parse(Some(raw), ALLOWED, DEFAULT)
            .0
            .iter()
            .map(|k| (k.field.name(), k.descending))
            .collect()
    }

    #[test]
    fn ordering_follows_orderingfilter() {
        assert_eq!(keys("title"), [("title", false)]);
        assert_eq!(
            keys("-due_date, title"),
            [("due_date", true), ("title", false)]
        );
        assert_eq!(
            keys("owner,-title,nope"),
            [("title", true)],
            "unknown fields dropped"
        );
        assert_eq!(
            keys("title,-title"),
            [("title", false)],
            "a repeat is dropped"
        );
        assert_eq!(
            keys("nope"),
            [("created_at", true)],
            "none valid: the default"
        );
        assert_eq!(keys(""), [("created_at", true)]);
        assert_eq!(keys("--title"), [("created_at", true)]);
    }
}

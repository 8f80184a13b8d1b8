//! Rows by an id, in a sorted vector: a page's look-ups by binary search, with neither a
//! hash nor a table allocation a look-up (a sweep makes millions of them).

#[derive(Debug)]
pub(crate) struct ById<T>(Vec<(i64, T)>);

impl<T> Default for ById<T> {
    fn default() -> Self {
        ById(Vec::new())
    }
}

impl<T> ById<T> {
    /// The first of each id, in the order given.
    pub fn first_of(mut pairs: Vec<(i64, T)>) -> ById<T> {
        // Stable: of equal ids the first given stays first, and `dedup` keeps it.
        pairs.sort_by_key(|(id, _)| *id);
        pairs.dedup_by_key(|(id, _)| *id);
        ById(pairs)
    }

    /// Every value of each id, in the order given.
    pub fn grouped(mut pairs: Vec<(i64, T)>) -> ById<Vec<T>> {
        pairs.sort_by_key(|(id, _)| *id);
        let mut out: Vec<(i64, Vec<T>)> = Vec::new();
        for (id, v) in pairs {
            match out.last_mut() {
                Some((last, group)) if *last == id => group.push(v),
                _ => out.push((id, vec![v])),
            }
        }
        ById(out)
    }

    pub fn get(&self, id: &i64) -> Option<&T> {
        let at = self.0.binary_search_by_key(id, |(k, _)| *k).ok()?;
        Some(&self.0[at].1)
    }

    pub fn keys(&self) -> impl Iterator<Item = &i64> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&i64, &T)> {
        self.0.iter().map(|(id, v)| (id, v))
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.0.iter().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_of_each_id_and_groups_in_their_order() {
        let rows = ById::first_of(vec![(3, "c"), (1, "a"), (3, "c2"), (2, "b")]);
        assert_eq!(
            (rows.get(&3), rows.get(&1), rows.get(&4)),
            (Some(&"c"), Some(&"a"), None)
        );
        assert_eq!(rows.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
        let groups = ById::grouped(vec![(5, 1), (4, 2), (5, 3)]);
        assert_eq!(groups.get(&5), Some(&vec![1, 3]));
        assert_eq!(groups.values().count(), 2);
    }
}

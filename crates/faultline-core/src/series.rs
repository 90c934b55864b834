//! Series identity: label sets, dense ids, and the shared registry that interns them.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock};

use dashmap::DashMap;

/// Dense, process-local id of a series. Never leaves the process: checkpoints,
/// dedup keys and output carry the [`SeriesKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesId(pub u32);

impl SeriesId {
    /// The id as an index into dense per-series tables.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// What a series measures; decides which aggregate and which signals it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeriesKind {
    /// Requests served by `service`, per operation.
    Request,
    /// Outbound calls from `service` to the dependency named in `name`.
    Dependency,
    /// A gauge named `name`.
    Gauge,
    /// Business transactions of `service`.
    Transaction,
    /// Change events (deploys, config changes, rollbacks) of `service`.
    Change,
}

impl SeriesKind {
    /// Lower-case name, as in output.
    pub fn as_str(self) -> &'static str {
        match self {
            SeriesKind::Request => "request",
            SeriesKind::Dependency => "dependency",
            SeriesKind::Gauge => "gauge",
            SeriesKind::Transaction => "transaction",
            SeriesKind::Change => "change",
        }
    }
}

/// The label set of a series: kind, service, a name (operation, dependency or
/// gauge name; empty for transactions and changes) and the configured extra
/// dimensions, in config order (empty string when the event lacks one).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct SeriesKey {
    /// What the series measures.
    pub kind: SeriesKind,
    /// The service the telemetry came from.
    pub service: Box<str>,
    /// Operation, dependency or gauge name.
    pub name: Box<str>,
    /// Values of the configured dimensions, in config order.
    pub dims: Box<[Box<str>]>,
}

/// The name used for label sets folded away by the cardinality cap.
pub const OVERFLOW_NAME: &str = "__overflow__";

impl SeriesKey {
    /// Builds a key from borrowed parts.
    pub fn new(kind: SeriesKind, service: &str, name: &str, dims: &[&str]) -> SeriesKey {
        SeriesKey {
            kind,
            service: service.into(),
            name: name.into(),
            dims: dims.iter().map(|d| Box::<str>::from(*d)).collect(),
        }
    }

    /// True for the per-service overflow series of the cardinality cap.
    pub fn is_overflow(&self) -> bool {
        &*self.name == OVERFLOW_NAME
    }

    /// The borrowed form, for lookups without allocation.
    pub fn as_ref(&self) -> SeriesKeyRef<'_> {
        SeriesKeyRef { kind: self.kind, service: &self.service, name: &self.name, dims: DimsRef::Owned(&self.dims) }
    }

    /// True when a label holds a NUL byte (then [`SeriesKey::order_prefix`] may not keep the order).
    fn has_nul(&self) -> bool {
        let nul = |s: &str| s.as_bytes().contains(&0);
        nul(&self.service) || nul(&self.name) || self.dims.iter().any(|d| nul(d))
    }

    /// The first 24 bytes of the label set's encoding (kind, then each label followed by a
    /// NUL byte; zeros after the end), as big-endian integers. For label sets without NUL
    /// bytes, a smaller prefix means a smaller label set; equal prefixes say nothing.
    fn order_prefix(&self) -> [u64; 3] {
        let mut buf = [0u8; 24];
        buf[0] = self.kind as u8;
        let mut at = 1;
        let mut put = |bytes: &[u8]| {
            let n = bytes.len().min(buf.len().saturating_sub(at));
            buf[at..at + n].copy_from_slice(&bytes[..n]);
            // The terminator is the zero already there.
            at = (at + n + 1).min(buf.len());
        };
        put(self.service.as_bytes());
        put(self.name.as_bytes());
        for d in &self.dims {
            put(d.as_bytes());
        }
        let word = |i: usize| u64::from_be_bytes(buf[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        [word(0), word(1), word(2)]
    }
}

/// A borrowed label set, hashed and compared like the [`SeriesKey`] it names.
#[derive(Debug, Clone, Copy)]
pub struct SeriesKeyRef<'a> {
    /// What the series measures.
    pub kind: SeriesKind,
    /// The service.
    pub service: &'a str,
    /// Operation, dependency or gauge name.
    pub name: &'a str,
    /// Dimension values in config order.
    pub dims: DimsRef<'a>,
}

/// Dimension values, borrowed from either a key or a decoder's scratch space.
#[derive(Debug, Clone, Copy)]
pub enum DimsRef<'a> {
    /// From an owned key.
    Owned(&'a [Box<str>]),
    /// From a decoder.
    Borrowed(&'a [&'a str]),
}

impl DimsRef<'_> {
    fn len(&self) -> usize {
        match self {
            DimsRef::Owned(d) => d.len(),
            DimsRef::Borrowed(d) => d.len(),
        }
    }

    fn get(&self, i: usize) -> &str {
        match self {
            DimsRef::Owned(d) => &d[i],
            DimsRef::Borrowed(d) => d[i],
        }
    }
}

impl Hash for SeriesKeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
        self.service.hash(state);
        self.name.hash(state);
        let n = self.dims.len();
        n.hash(state);
        for i in 0..n {
            self.dims.get(i).hash(state);
        }
    }
}

impl SeriesKeyRef<'_> {
    /// Copies the borrowed parts into an owned key.
    pub fn to_owned_key(&self) -> SeriesKey {
        SeriesKey {
            kind: self.kind,
            service: self.service.into(),
            name: self.name.into(),
            dims: (0..self.dims.len()).map(|i| Box::<str>::from(self.dims.get(i))).collect(),
        }
    }
}

/// Label set → dense series id, shared by every decoder. Interning is a
/// concurrent map (dashmap); decoders keep a local cache in front of it so
/// the shared map is touched once per label set per decoder, not per event.
///
/// A per-service cardinality cap folds label sets past the cap into one
/// overflow series per (service, kind); [`SeriesRegistry::n_folded`] counts them.
#[derive(Debug)]
pub struct SeriesRegistry {
    /// Shares each label set with `keys`: one copy per series.
    ids: DashMap<Arc<SeriesKey>, SeriesId, rustc_hash::FxBuildHasher>,
    keys: RwLock<Vec<Arc<SeriesKey>>>,
    per_service: DashMap<Box<str>, u32, rustc_hash::FxBuildHasher>,
    max_series_per_service: u32,
    folded: std::sync::atomic::AtomicU64,
}

impl SeriesRegistry {
    /// A registry that allows at most `max_series_per_service` label sets per service
    /// before folding into overflow series.
    pub fn new(max_series_per_service: u32) -> SeriesRegistry {
        SeriesRegistry {
            ids: DashMap::default(),
            keys: RwLock::new(Vec::new()),
            per_service: DashMap::default(),
            max_series_per_service: max_series_per_service.max(1),
            folded: Default::default(),
        }
    }

    /// The id of `key`, interning it (or its overflow series) if new.
    pub fn intern(&self, key: SeriesKeyRef<'_>) -> SeriesId {
        self.intern_owned(key.to_owned_key())
    }

    /// [`SeriesRegistry::intern`] of a label set the caller already owns.
    pub fn intern_owned(&self, owned: SeriesKey) -> SeriesId {
        if let Some(id) = self.ids.get(&owned) {
            return *id;
        }
        // The per-service counter's entry guard serialises interning per service,
        // so the cap holds under concurrent decoders.
        let mut n = self.per_service.entry(owned.service.clone()).or_insert(0);
        if let Some(id) = self.ids.get(&owned) {
            return *id;
        }
        let target = if *n >= self.max_series_per_service {
            self.folded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            SeriesKey {
                kind: owned.kind,
                service: owned.service.clone(),
                name: OVERFLOW_NAME.into(),
                dims: vec![Box::<str>::from(""); owned.dims.len()].into(),
            }
        } else {
            *n += 1;
            owned
        };
        let target = Arc::new(target);
        *self.ids.entry(target.clone()).or_insert_with(|| {
            let mut keys = self.keys.write().expect("series key table poisoned");
            // Ids from PENDING_ID up are a deferred cache's placeholders.
            let id =
                SeriesId(u32::try_from(keys.len()).ok().filter(|n| *n < PENDING_ID).expect("fewer than 2^31 series"));
            keys.push(target);
            id
        })
    }

    /// The label set of `id`.
    ///
    /// # Panics
    /// If `id` was not minted by this registry.
    pub fn key(&self, id: SeriesId) -> Arc<SeriesKey> {
        self.keys.read().expect("series key table poisoned")[id.index()].clone()
    }

    /// `f` over every label set, by id, under one read of the table.
    pub fn with_keys<R>(&self, f: impl FnOnce(&[Arc<SeriesKey>]) -> R) -> R {
        f(&self.keys.read().expect("series key table poisoned"))
    }

    /// The label sets of ids `from..to` (all minted), under one lock.
    pub(crate) fn keys_between(&self, from: usize, to: usize) -> Vec<Arc<SeriesKey>> {
        self.keys.read().expect("series key table poisoned")[from..to].to_vec()
    }

    /// The id of an already interned label set.
    pub fn lookup(&self, key: &SeriesKey) -> Option<SeriesId> {
        self.ids.get(key).map(|r| *r)
    }

    /// Number of distinct series (including overflow series).
    pub fn len(&self) -> usize {
        self.keys.read().expect("series key table poisoned").len()
    }

    /// True when nothing was interned yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Label sets folded into an overflow series so far.
    pub fn n_folded(&self) -> u64 {
        self.folded.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The rank of every series id in label-set order, so that whoever must process
/// series in label-set order (not id order, which depends on interning order)
/// sorts by integers. Extended on demand as the registry mints new ids.
#[derive(Debug, Default)]
pub(crate) struct LabelOrder {
    /// Label sets in order, with their ids.
    sorted: Vec<(Arc<SeriesKey>, SeriesId)>,
    /// Position of each id in `sorted`.
    ranks: Vec<u32>,
}

impl LabelOrder {
    /// Number of ids ranked.
    pub(crate) fn len(&self) -> usize {
        self.ranks.len()
    }

    /// The rank of `id`, which must be below the registry's length at the last [`LabelOrder::cover`].
    pub(crate) fn rank(&self, id: SeriesId) -> u32 {
        self.ranks[id.index()]
    }

    /// The label set of a ranked `id`.
    pub(crate) fn key(&self, id: SeriesId) -> &Arc<SeriesKey> {
        &self.sorted[self.rank(id) as usize].0
    }

    /// Ranks every id the registry minted so far: the new ones are sorted among
    /// themselves and placed among the known ones by binary search.
    pub(crate) fn cover(&mut self, registry: &SeriesRegistry) {
        let n = registry.len();
        let known = self.ranks.len();
        if n <= known {
            return;
        }
        let mut fresh: Vec<(Arc<SeriesKey>, SeriesId)> =
            registry.keys_between(known, n).into_iter().zip((known..n).map(|i| SeriesId(i as u32))).collect();
        // Comparing label sets chases a pointer per string; most pairs already differ in
        // the first 24 bytes of their encoding, compared as three integers. The encoding
        // keeps the order only when no label holds a NUL byte.
        if fresh.iter().all(|(k, _)| !k.has_nul()) {
            fresh.sort_by_cached_key(|(k, _)| (k.order_prefix(), Arc::clone(k)));
        } else {
            fresh.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        }
        // Where each new label set goes among the known ones (no ties: label sets are unique).
        let mut at = Vec::with_capacity(fresh.len());
        let mut from = 0;
        for (key, _) in &fresh {
            from += self.sorted[from..].partition_point(|o| o.0 < *key);
            at.push(from);
        }
        let mut merged = Vec::with_capacity(n);
        let mut old = std::mem::take(&mut self.sorted).into_iter();
        let mut taken = 0;
        for (entry, pos) in fresh.into_iter().zip(at) {
            merged.extend(old.by_ref().take(pos - taken));
            taken = pos;
            merged.push(entry);
        }
        merged.extend(old);
        self.sorted = merged;
        self.ranks.resize(n, 0);
        for (rank, (_, id)) in self.sorted.iter().enumerate() {
            self.ranks[id.index()] = rank as u32;
        }
    }
}

/// Series ids from here up are placeholders a deferred [`SeriesCache`] hands out for label
/// sets it has not interned yet ([`SeriesCache::settle`] says which series each one is).
pub const PENDING_ID: u32 = 1 << 31;

/// Bytes of label sets a decoder's cache holds before it starts afresh.
const MAX_CACHE_BYTES: usize = 1 << 30;

/// A decoder-local cache in front of the shared registry. Each cached label
/// set is kept encoded in one contiguous arena (kind, then every part with its
/// length), so a hit costs one hash of the borrowed label set's encoding and
/// one byte comparison against a single place in memory, not a pointer chase
/// per label.
///
/// A deferred cache ([`SeriesCache::deferred`]) interns nothing while it
/// resolves: a label set the registry does not know yet gets a placeholder id
/// (from [`PENDING_ID`] up), and [`SeriesCache::settle`] interns those in the
/// order they were met. Several decoders can then decode parts of one stream
/// side by side and settle in stream order, minting the same ids as one decoder
/// reading the whole stream (and folding the same label sets at the cap).
#[derive(Debug, Default)]
pub struct SeriesCache {
    map: hashbrown::HashTable<CacheEntry>,
    arena: Vec<u8>,
    scratch: Vec<u8>,
    /// In deferred mode, the label sets met and not yet interned, by placeholder.
    pending: Option<Vec<SeriesKey>>,
}

#[derive(Debug)]
struct CacheEntry {
    hash: u64,
    start: u32,
    len: u32,
    id: SeriesId,
}

impl SeriesCache {
    /// The id of `key`: from the cache, or interned in `registry` and cached.
    #[inline]
    pub fn resolve(&mut self, registry: &SeriesRegistry, key: SeriesKeyRef<'_>) -> SeriesId {
        key.encode(&mut self.scratch);
        let hash = cache_hash(&self.scratch);
        match self.cached(hash) {
            Some(id) => id,
            None => self.insert(registry, key, hash),
        }
    }

    /// A cache that defers interning to [`SeriesCache::settle`].
    pub fn deferred() -> SeriesCache {
        SeriesCache { pending: Some(Vec::new()), ..SeriesCache::default() }
    }

    /// Interns the label sets met since the last call, in the order they were
    /// met, and caches them; `ids[i]` is then the series of placeholder
    /// `PENDING_ID + i`. Leaves `ids` empty on a cache that does not defer.
    pub fn settle(&mut self, registry: &SeriesRegistry, ids: &mut Vec<SeriesId>) {
        ids.clear();
        let Some(mut pending) = self.pending.take() else { return };
        for key in pending.drain(..) {
            key.as_ref().encode(&mut self.scratch);
            let hash = cache_hash(&self.scratch);
            // Met twice before settling: the first time cached it.
            if let Some(id) = self.cached(hash) {
                ids.push(id);
                continue;
            }
            let overflow_asked = key.is_overflow();
            let id = registry.intern_owned(key);
            if overflow_asked || !registry.key(id).is_overflow() {
                self.cache_scratch(hash, id);
            }
            ids.push(id);
        }
        self.pending = Some(pending);
    }

    /// The cached id of the label set encoded in `scratch`.
    #[inline]
    fn cached(&self, hash: u64) -> Option<SeriesId> {
        let probe = &self.scratch[..];
        let arena = &self.arena;
        self.map
            .find(hash, |e| {
                e.hash == hash && e.len as usize == probe.len() && &arena[e.start as usize..][..probe.len()] == probe
            })
            .map(|e| e.id)
    }

    #[inline(never)]
    fn insert(&mut self, registry: &SeriesRegistry, key: SeriesKeyRef<'_>, hash: u64) -> SeriesId {
        if let Some(pending) = &mut self.pending {
            let owned = key.to_owned_key();
            // Known label sets (and overflow series) are cached at once; folded ones are not
            // in the registry under their own label set, so they wait for `settle` like new ones.
            if let Some(id) = registry.lookup(&owned) {
                self.cache_scratch(hash, id);
                return id;
            }
            let slot = u32::try_from(pending.len()).ok().filter(|n| *n < PENDING_ID).expect("fewer than 2^31 pending");
            pending.push(owned);
            return SeriesId(PENDING_ID + slot);
        }
        // Folded label sets map to their overflow series: the entry keeps the
        // label set looked up, so it is found again.
        let id = registry.intern(key);
        // A label set folded by the cardinality cap is not cached: an endless stream of new
        // label sets would grow the cache without bound (the registry answers them instead).
        if key.name != OVERFLOW_NAME && registry.key(id).is_overflow() {
            return id;
        }
        self.cache_scratch(hash, id);
        id
    }

    /// Caches the label set encoded in `scratch` as `id`.
    fn cache_scratch(&mut self, hash: u64, id: SeriesId) {
        if self.arena.len() + self.scratch.len() > MAX_CACHE_BYTES {
            self.map.clear();
            self.arena.clear();
        }
        let (Ok(start), Ok(len)) = (u32::try_from(self.arena.len()), u32::try_from(self.scratch.len())) else {
            return;
        };
        self.arena.extend_from_slice(&self.scratch);
        self.map.insert_unique(hash, CacheEntry { hash, start, len, id }, |e| e.hash);
    }
}

/// FxHash of an encoded label set with a final avalanche (the 64-bit
/// finaliser of MurmurHash3): FxHash alone leaves the top bits, which the hash
/// table uses as its tag, nearly equal for label sets that differ in a digit or two.
#[inline]
fn cache_hash(encoded: &[u8]) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    h.write(encoded);
    let mut x = h.finish();
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

impl SeriesKeyRef<'_> {
    /// The label set as bytes, unambiguously: the kind, then service, name and
    /// each dimension value, each after its length.
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        out.push(self.kind as u8);
        let mut part = |p: &str| {
            out.extend_from_slice(&(p.len() as u32).to_le_bytes());
            out.extend_from_slice(p.as_bytes());
        };
        part(self.service);
        part(self.name);
        for i in 0..self.dims.len() {
            part(self.dims.get(i));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(svc: &'a str, op: &'a str, dims: &'a [&'a str]) -> SeriesKeyRef<'a> {
        SeriesKeyRef { kind: SeriesKind::Request, service: svc, name: op, dims: DimsRef::Borrowed(dims) }
    }

    #[test]
    fn interning_is_stable_and_dense() {
        let r = SeriesRegistry::new(100);
        let a = r.intern(req("pay", "POST /charge", &["eu"]));
        let b = r.intern(req("pay", "GET /status", &["eu"]));
        assert_eq!(r.intern(req("pay", "POST /charge", &["eu"])), a);
        assert_eq!((a.0, b.0), (0, 1));
        assert_eq!(&*r.key(a).name, "POST /charge");
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn kind_is_part_of_the_identity() {
        let r = SeriesRegistry::new(100);
        let a = r.intern(req("pay", "x", &[]));
        let b = r.intern(SeriesKeyRef { kind: SeriesKind::Gauge, ..req("pay", "x", &[]) });
        assert_ne!(a, b);
    }

    #[test]
    fn cap_folds_new_label_sets_into_overflow() {
        let r = SeriesRegistry::new(2);
        let a = r.intern(req("pay", "a", &[]));
        let b = r.intern(req("pay", "b", &[]));
        let c = r.intern(req("pay", "c", &[]));
        let d = r.intern(req("pay", "d", &[]));
        let other = r.intern(req("shop", "a", &[]));
        assert_ne!(a, b);
        assert_eq!(c, d, "both fold into one overflow series");
        assert!(r.key(c).is_overflow());
        assert_eq!(r.n_folded(), 2);
        assert_ne!(other, c, "the cap is per service");
        assert_eq!(r.intern(req("pay", "a", &[])), a, "known label sets keep their id");
    }

    #[test]
    fn label_order_ranks_equal_label_set_order_as_ids_arrive() {
        let r = SeriesRegistry::new(100);
        let mut order = LabelOrder::default();
        let names = ["m", "c", "x", "a", "q", "b", "z", "d", "k", "e", "y"];
        for (i, name) in names.iter().enumerate() {
            r.intern(req("pay", name, &[]));
            if i % 3 == 0 {
                order.cover(&r);
            }
        }
        order.cover(&r);
        assert_eq!(order.len(), names.len());
        let mut by_rank: Vec<SeriesId> = (0..names.len() as u32).map(SeriesId).collect();
        by_rank.sort_by_key(|id| order.rank(*id));
        let mut by_key = by_rank.clone();
        by_key.sort_by_key(|id| r.key(*id));
        assert_eq!(by_rank, by_key);
    }

    /// Labels from a small alphabet with NUL, short and long ones, so prefixes tie, cut
    /// labels short and run past 24 bytes.
    fn label() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::string::string_regex("[ab\\x00]{0,3}|[ab]{20,26}").expect("a valid regex")
    }

    fn key() -> impl proptest::strategy::Strategy<Value = SeriesKey> {
        use proptest::prelude::*;
        (0..2u8, label(), label(), proptest::collection::vec(label(), 0..3)).prop_map(|(kind, service, name, dims)| {
            let dims: Vec<&str> = dims.iter().map(String::as_str).collect();
            let kind = if kind == 0 { SeriesKind::Request } else { SeriesKind::Dependency };
            SeriesKey::new(kind, &service, &name, &dims)
        })
    }

    proptest::proptest! {
        #[test]
        fn order_prefixes_keep_the_label_set_order(a in key(), b in key()) {
            if !a.has_nul() && !b.has_nul() && a.order_prefix() != b.order_prefix() {
                proptest::prop_assert_eq!(a.order_prefix().cmp(&b.order_prefix()), a.cmp(&b));
            }
        }

        #[test]
        fn label_order_sorts_like_the_label_sets(keys in proptest::collection::vec(key(), 1..40), split in 0..40usize) {
            let r = SeriesRegistry::new(1000);
            let mut order = LabelOrder::default();
            for (i, k) in keys.iter().enumerate() {
                r.intern(k.as_ref());
                if i == split {
                    order.cover(&r);
                }
            }
            order.cover(&r);
            let mut by_rank: Vec<SeriesId> = (0..r.len() as u32).map(SeriesId).collect();
            by_rank.sort_by_key(|id| order.rank(*id));
            let mut by_key = by_rank.clone();
            by_key.sort_by_key(|id| r.key(*id));
            proptest::prop_assert_eq!(by_rank, by_key);
        }
    }

    proptest::proptest! {
        /// Two deferred caches decoding alternate chunks of one stream, each chunk decoded
        /// before the one ahead of it settled, then settled in stream order, mint the ids
        /// and fold the label sets that one plain cache reading the whole stream does.
        #[test]
        fn deferred_caches_settled_in_order_mint_the_ids_of_one_cache(
            names in proptest::collection::vec(0..12u8, 1..200),
            chunk in 1..20usize,
        ) {
            let plain = SeriesRegistry::new(5);
            let mut one = SeriesCache::default();
            let want: Vec<SeriesId> = names.iter().map(|n| one.resolve(&plain, req("pay", &n.to_string(), &[]))).collect();

            let shared = SeriesRegistry::new(5);
            let mut caches = [SeriesCache::deferred(), SeriesCache::deferred()];
            let mut got = Vec::new();
            let mut ids = Vec::new();
            for pair in names.chunks(chunk * 2) {
                let halves: Vec<&[u8]> = pair.chunks(chunk).collect();
                // Both halves decode before either settles.
                let mut decoded: Vec<Vec<SeriesId>> = halves
                    .iter()
                    .zip(caches.iter_mut())
                    .map(|(h, c)| h.iter().map(|n| c.resolve(&shared, req("pay", &n.to_string(), &[]))).collect())
                    .collect();
                for (d, c) in decoded.iter_mut().zip(caches.iter_mut()) {
                    c.settle(&shared, &mut ids);
                    for id in d.iter_mut() {
                        if let Some(slot) = id.0.checked_sub(PENDING_ID) {
                            *id = ids[slot as usize];
                        }
                    }
                    got.extend_from_slice(d);
                }
            }
            proptest::prop_assert_eq!(got, want);
            proptest::prop_assert_eq!(shared.len(), plain.len());
            proptest::prop_assert_eq!(shared.n_folded(), plain.n_folded());
        }
    }

    #[test]
    fn cache_agrees_with_registry() {
        let r = SeriesRegistry::new(100);
        let mut c = SeriesCache::default();
        let a = c.resolve(&r, req("pay", "x", &["eu", "i-1"]));
        assert_eq!(c.resolve(&r, req("pay", "x", &["eu", "i-1"])), a);
        assert_ne!(c.resolve(&r, req("pay", "x", &["eu", "i-2"])), a);
        assert_eq!(r.lookup(&req("pay", "x", &["eu", "i-1"]).to_owned_key()), Some(a));
    }

    #[test]
    fn cache_finds_folded_label_sets_again() {
        let r = SeriesRegistry::new(1);
        let mut c = SeriesCache::default();
        let a = c.resolve(&r, req("pay", "a", &[]));
        let b = c.resolve(&r, req("pay", "b", &[]));
        assert!(r.key(b).is_overflow());
        assert_eq!(c.resolve(&r, req("pay", "b", &[])), b);
        assert_eq!(c.resolve(&r, req("pay", "a", &[])), a);
        assert_eq!(c.map.len(), 1, "the folded label set is found through the registry, not cached");
    }

    #[test]
    fn the_cache_keeps_no_folded_label_sets() {
        let r = SeriesRegistry::new(1);
        let mut cache = SeriesCache::default();
        let first = cache.resolve(&r, req("pay", "a", &[]));
        let cached = cache.arena.len();
        let names: Vec<String> = (0..1000).map(|i| format!("op-{i}")).collect();
        let folded: Vec<SeriesId> = names.iter().map(|n| cache.resolve(&r, req("pay", n, &[]))).collect();
        assert!(folded.iter().all(|id| *id == folded[0] && *id != first));
        assert_eq!(cache.arena.len(), cached, "a stream of new label sets does not grow the cache");
        assert_eq!(cache.resolve(&r, req("pay", "a", &[])), first);
    }
}

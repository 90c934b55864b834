//! Fuzzes the write-ahead log's segment reader: corrupt or torn segments never panic and yield only whole, checksummed records.
//!
//! The first byte picks where the replay starts: 0 at the segment's start,
//! 1–254 at that offset, 255 at a wild offset past any segment. The records
//! read, written out again, are exactly the bytes they were read from.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&mode, segment)) = data.split_first() else { return };
    let from = match mode {
        255 => u64::MAX - 3,
        m => u64::from(m),
    };
    let mut rebuilt = Vec::new();
    let mut last_end = from;
    let n = faultline_ingest::fuzzing::segment_records(segment, from, |kind, payload, end| {
        let mut crc = crc32fast::Hasher::new();
        crc.update(&[kind]);
        crc.update(payload);
        rebuilt.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        rebuilt.extend_from_slice(&crc.finalize().to_le_bytes());
        rebuilt.push(kind);
        rebuilt.extend_from_slice(payload);
        assert_eq!(end, last_end + 9 + payload.len() as u64, "records follow each other");
        last_end = end;
    });
    if n > 0 {
        let start = from as usize;
        assert_eq!(&segment[start..last_end as usize], &rebuilt[..], "{n} records are not the bytes read");
    }
});

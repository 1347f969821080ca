;; The event walk of an FtraceEventBundle, the hot path of Perfetto trace decoding, in
;; WebAssembly: `npm run build` assembles this file (wabt's wat2wasm) into bundle.wasm, which
;; walker.ts loads. It replaced a JavaScript loop: decoding a trace in memory went from some
;; 260 to 210 ms per GB (measured), and runs at that speed from its first bundle instead of
;; after V8 has optimized the loop. With the varints skipped inline and unchecked, and the
;; bundle's own fields skipped here, the walk alone takes some 107 ms per GB of the benchmark's
;; trace (6.3 ns an event; 158 ms before).
;;
;; `bundle(start, end)` walks the bundle at memory[start, end). Per event it finds the tag of
;; the payload field by reading straight through the layout traced writes (timestamp, pid,
;; common_flags when recorded, then the payload field, which ends the event), locating the
;; varints without decoding them (a word at a time, inline: a call per varint cost a fifth of the
;; walk). A `dma_heap_stat` event (the most frequent of ours) with the
;; usual fields (inode, len, total_allocated, in that order) and values a double holds exactly
;; is decoded here into a row (below), and so are `binder_transaction` and
;; `binder_transaction_received` events (a busy system sends thousands a second) whose fields are
;; varints in field order, and `dmabuf_rss_stat` events laid out like dma_heap_stat ones. Any other event whose payload is one of ours (the table below), or one
;; laid out otherwise, is handed to the import `event(start, end)`, which decodes it and returns
;; where its timestamp varint starts (-1: none). Of the bundle fields that are not events, the
;; cpu and compact_sched (any length-delimited field of a one-byte tag) are skipped here; any
;; other (lost_events), or one that runs past the bundle, goes to the import `field(at, end)`,
;; which returns where the next field starts. Both may throw; the exception goes through to
;; the caller.
;;
;; Returns the number of events, or -1 when an event's length runs past the bundle. Leaves at
;; memory[0] and memory[4] (i32) where the timestamp varints of the first and last events
;; start (-1: none). Memory layout (walker.ts): [16, 16 + 2048) holds a byte per payload field
;; number, 1 for ours. The rows of dma_heap_stat events are f64 quintuples (ts, inode, len,
;; total_allocated or NaN, FtraceEvent.pid: the thread) from 4096, at most 1536 (then the
;; events are handed over), their count the i32 at memory[8]; the rows of binder events are
;; eight f64s (ts, the thread, 1 for received else 0, debug_id, reply, flags, to_proc, to_thread:
;; NaN for what a received event lacks and for an absent to_proc or to_thread) from 65536, at
;; most 1024, their count the i32 at memory[12]; the rows of dmabuf_rss_stat events are f64
;; quintuples (ts, rss, rss_delta or NaN, i_ino or NaN, the thread) from 131072, at most 1024,
;; their count the i32 at memory[2088]. The caller takes them, and resets the counts,
;; before each call of `event` and after the walk, so that rows and handed-over events keep the
;; trace's order. Reads may go up to 31 bytes past an event's end (the varints before its payload
;; are located a word at a time, unchecked; an event whose payload then does not end where the
;; event does is handed over, so nothing read past its end is used): the caller keeps 32 bytes
;; of memory after any bundle.
(module
  (import "walker" "memory" (memory 1))
  (import "walker" "event" (func $event (param i32 i32) (result i32)))
  (import "walker" "field" (func $field (param i32 i32) (result i32)))
  (import "walker" "packet" (func $packet (param i32 i32) (result i32)))
  (import "walker" "failed" (func $failed (param i32 i32)))

  ;; The end of the varint at q, in an event ending at e (e when it runs to the end): a word at
  ;; a time when 8 bytes remain, the first byte without the continuation bit found by ctz.
  (func $skipVarint (param $q i32) (param $e i32) (result i32)
    (local $stops i64)
    (if (i32.le_u (i32.add (local.get $q) (i32.const 8)) (local.get $e))
      (then
        (local.set $stops (i64.and (i64.xor (i64.load (local.get $q)) (i64.const -1))
                                   (i64.const 0x8080808080808080)))
        (if (i64.ne (local.get $stops) (i64.const 0))
          (then (return (i32.add (local.get $q)
            (i32.add (i32.wrap_i64 (i64.shr_u (i64.ctz (local.get $stops)) (i64.const 3)))
                     (i32.const 1))))))
        (local.set $q (i32.add (local.get $q) (i32.const 8)))))
    (block $done
      (loop $byte
        (br_if $done (i32.ge_u (local.get $q) (local.get $e)))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br_if $byte (i32.ge_u (i32.load8_u (i32.sub (local.get $q) (i32.const 1))) (i32.const 0x80)))))
    (local.get $q))

  ;; Where the last $varint ended; 0 when it ran past its bound or over 10 bytes.
  (global $at (mut i32) (i32.const 0))

  ;; The varint at q, bounded by e, as an i64.
  (func $varint (param $q i32) (param $e i32) (result i64)
    (local $v i64) (local $shift i64) (local $b i32)
    (loop $byte
      (if (i32.ge_u (local.get $q) (local.get $e))
        (then (global.set $at (i32.const 0)) (return (i64.const 0))))
      (local.set $b (i32.load8_u (local.get $q)))
      (local.set $q (i32.add (local.get $q) (i32.const 1)))
      (local.set $v (i64.or (local.get $v)
        (i64.shl (i64.extend_i32_u (i32.and (local.get $b) (i32.const 0x7f))) (local.get $shift))))
      (if (i32.ge_u (local.get $b) (i32.const 0x80))
        (then
          (local.set $shift (i64.add (local.get $shift) (i64.const 7)))
          (br_if $byte (i64.lt_u (local.get $shift) (i64.const 70)))
          (global.set $at (i32.const 0))
          (return (i64.const 0)))))
    (global.set $at (local.get $q))
    (local.get $v))

  ;; The payload at [q, e) of a dma_heap_stat (inode, len, total_allocated) or dmabuf_rss_stat
  ;; (rss, rss_delta, i_ino) event, whose timestamp and pid varints start at tsAt and pidAt, as a
  ;; row: f64s (ts, field 1, field 2 or NaN, field 3 or NaN, the thread) at `rows`, at most `max`,
  ;; their count the i32 at `countAt`. Fields 1 and 3 are uint64, field 2 an int64, each below
  ;; 2^53 in magnitude; field 1 is required, and field 2 when `need2`. Returns 1 when written, 0
  ;; when the event is to be handed over (a field missing, repeated or out of order, a value
  ;; beyond 2^53, no room left).
  (func $stat (param $q i32) (param $e i32) (param $tsAt i32) (param $pidAt i32)
    (param $rows i32) (param $countAt i32) (param $max i32) (param $need2 i32) (result i32)
    (local $n i32) (local $row i32) (local $ts i64) (local $pid i64) (local $f1 i64)
    (local $v i64) (local $f2 f64) (local $f3 f64)
    (if (i32.or (i32.lt_s (local.get $tsAt) (i32.const 0)) (i32.lt_s (local.get $pidAt) (i32.const 0)))
      (then (return (i32.const 0))))
    (local.set $n (i32.load (local.get $countAt)))
    (if (i32.ge_u (local.get $n) (local.get $max)) (then (return (i32.const 0))))
    ;; Timestamp below 2^53, pid below 2^31 (read as uint32 otherwise: handed over).
    (local.set $ts (call $varint (local.get $tsAt) (local.get $q)))
    (if (i32.or (i32.eqz (global.get $at)) (i64.ge_u (local.get $ts) (i64.const 0x20000000000000)))
      (then (return (i32.const 0))))
    (local.set $pid (call $varint (local.get $pidAt) (local.get $q)))
    (if (i32.or (i32.eqz (global.get $at)) (i64.ge_u (local.get $pid) (i64.const 0x80000000)))
      (then (return (i32.const 0))))
    ;; field 1 (uint64)
    (if (i32.ne (i32.load8_u (local.get $q)) (i32.const 0x08)) (then (return (i32.const 0))))
    (local.set $f1 (call $varint (i32.add (local.get $q) (i32.const 1)) (local.get $e)))
    (if (i32.or (i32.eqz (global.get $at)) (i64.ge_u (local.get $f1) (i64.const 0x20000000000000)))
      (then (return (i32.const 0))))
    (local.set $q (global.get $at))
    ;; field 2 (int64), |value| below 2^53
    (local.set $f2 (f64.const nan))
    (if (i32.and (i32.lt_u (local.get $q) (local.get $e)) (i32.eq (i32.load8_u (local.get $q)) (i32.const 0x10)))
      (then
        (local.set $v (call $varint (i32.add (local.get $q) (i32.const 1)) (local.get $e)))
        (if (i32.or (i32.eqz (global.get $at))
                    (i64.gt_u (i64.add (local.get $v) (i64.const 0x1fffffffffffff)) (i64.const 0x3ffffffffffffe)))
          (then (return (i32.const 0))))
        (local.set $f2 (f64.convert_i64_s (local.get $v)))
        (local.set $q (global.get $at)))
      (else (if (local.get $need2) (then (return (i32.const 0))))))
    ;; field 3 (uint64)
    (local.set $f3 (f64.const nan))
    (if (i32.lt_u (local.get $q) (local.get $e))
      (then
        (if (i32.ne (i32.load8_u (local.get $q)) (i32.const 0x18)) (then (return (i32.const 0))))
        (local.set $v (call $varint (i32.add (local.get $q) (i32.const 1)) (local.get $e)))
        (if (i32.or (i32.eqz (global.get $at)) (i64.ge_u (local.get $v) (i64.const 0x20000000000000)))
          (then (return (i32.const 0))))
        (local.set $f3 (f64.convert_i64_u (local.get $v)))
        (local.set $q (global.get $at))))
    (if (i32.ne (local.get $q) (local.get $e)) (then (return (i32.const 0))))
    (local.set $row (i32.add (local.get $rows) (i32.mul (local.get $n) (i32.const 40))))
    (f64.store offset=0 (local.get $row) (f64.convert_i64_u (local.get $ts)))
    (f64.store offset=8 (local.get $row) (f64.convert_i64_u (local.get $f1)))
    (f64.store offset=16 (local.get $row) (local.get $f2))
    (f64.store offset=24 (local.get $row) (local.get $f3))
    (f64.store offset=32 (local.get $row) (f64.convert_i64_u (local.get $pid)))
    (i32.store (local.get $countAt) (i32.add (local.get $n) (i32.const 1)))
    (i32.const 1))

  ;; The binder_transaction (received 0) or binder_transaction_received (received 1) payload at
  ;; [q, e) of an event whose timestamp and pid varints start at tsAt and pidAt, as a row: 1 when
  ;; written, 0 when the event is to be handed over (a tag of more than one byte or not a varint,
  ;; fields out of order or repeated, one a received event does not have, no debug_id, a value
  ;; beyond 2^53, no room left). debug_id, reply, to_proc and to_thread are int32 (their low 32
  ;; bits, signed), flags uint32; target_node and code are not kept.
  (func $binder (param $q i32) (param $e i32) (param $tsAt i32) (param $pidAt i32) (param $received i32) (result i32)
    (local $n i32) (local $row i32) (local $ts i64) (local $pid i64) (local $tag i32) (local $field i32)
    (local $last i32) (local $has i32) (local $v i64) (local $debug i64) (local $reply i64) (local $flags i64)
    (local $toProc i64) (local $toThread i64)
    (if (i32.or (i32.lt_s (local.get $tsAt) (i32.const 0)) (i32.lt_s (local.get $pidAt) (i32.const 0)))
      (then (return (i32.const 0))))
    (local.set $n (i32.load (i32.const 12)))
    (if (i32.ge_u (local.get $n) (i32.const 1024)) (then (return (i32.const 0))))
    (local.set $ts (call $varint (local.get $tsAt) (local.get $q)))
    (if (i32.or (i32.eqz (global.get $at)) (i64.ge_u (local.get $ts) (i64.const 0x20000000000000)))
      (then (return (i32.const 0))))
    (local.set $pid (call $varint (local.get $pidAt) (local.get $q)))
    (if (i32.or (i32.eqz (global.get $at)) (i64.ge_u (local.get $pid) (i64.const 0x80000000)))
      (then (return (i32.const 0))))
    (block $read
      (loop $next
        (br_if $read (i32.ge_u (local.get $q) (local.get $e)))
        (local.set $tag (i32.load8_u (local.get $q)))
        (local.set $field (i32.shr_u (local.get $tag) (i32.const 3)))
        ;; One byte, a varint, after the previous field, and a field the event has.
        (if (i32.or
              (i32.or (i32.ge_u (local.get $tag) (i32.const 0x80)) (i32.ne (i32.and (local.get $tag) (i32.const 7)) (i32.const 0)))
              (i32.or (i32.le_u (local.get $field) (local.get $last))
                      (i32.gt_u (local.get $field) (select (i32.const 1) (i32.const 7) (local.get $received)))))
          (then (return (i32.const 0))))
        (local.set $last (local.get $field))
        (local.set $v (call $varint (i32.add (local.get $q) (i32.const 1)) (local.get $e)))
        (if (i32.eqz (global.get $at)) (then (return (i32.const 0))))
        (local.set $q (global.get $at))
        (local.set $has (i32.or (local.get $has) (i32.shl (i32.const 1) (local.get $field))))
        (if (i32.eq (local.get $field) (i32.const 1)) (then (local.set $debug (local.get $v))))
        (if (i32.eq (local.get $field) (i32.const 3)) (then (local.set $toProc (local.get $v))))
        (if (i32.eq (local.get $field) (i32.const 4)) (then (local.set $toThread (local.get $v))))
        (if (i32.eq (local.get $field) (i32.const 5)) (then (local.set $reply (local.get $v))))
        (if (i32.eq (local.get $field) (i32.const 7)) (then (local.set $flags (local.get $v))))
        (br $next)))
    (if (i32.eqz (i32.and (local.get $has) (i32.const 2))) (then (return (i32.const 0))))
    (if (i64.ge_u (local.get $flags) (i64.const 0x20000000000000)) (then (return (i32.const 0))))
    (local.set $row (i32.add (i32.const 65536) (i32.shl (local.get $n) (i32.const 6))))
    (f64.store offset=0 (local.get $row) (f64.convert_i64_u (local.get $ts)))
    (f64.store offset=8 (local.get $row) (f64.convert_i64_u (local.get $pid)))
    (f64.store offset=16 (local.get $row) (f64.convert_i32_u (local.get $received)))
    (f64.store offset=24 (local.get $row) (f64.convert_i32_s (i32.wrap_i64 (local.get $debug))))
    (if (local.get $received)
      (then
        (f64.store offset=32 (local.get $row) (f64.const nan))
        (f64.store offset=40 (local.get $row) (f64.const nan))
        (f64.store offset=48 (local.get $row) (f64.const nan))
        (f64.store offset=56 (local.get $row) (f64.const nan)))
      (else
        (f64.store offset=32 (local.get $row) (f64.convert_i32_u (i32.ne (i32.wrap_i64 (local.get $reply)) (i32.const 0))))
        (f64.store offset=40 (local.get $row) (f64.convert_i64_u (local.get $flags)))
        (f64.store offset=48 (local.get $row)
          (select (f64.convert_i32_s (i32.wrap_i64 (local.get $toProc))) (f64.const nan) (i32.and (local.get $has) (i32.const 8))))
        (f64.store offset=56 (local.get $row)
          (select (f64.convert_i32_s (i32.wrap_i64 (local.get $toThread))) (f64.const nan) (i32.and (local.get $has) (i32.const 16))))))
    (i32.store (i32.const 12) (i32.add (local.get $n) (i32.const 1)))
    (i32.const 1))

  (func $bundle (export "bundle") (param $start i32) (param $end i32) (result i32)
    (local $p i32) (local $b i32) (local $len i32) (local $shift i32) (local $s i32) (local $e i32)
    (local $q i32) (local $tsAt i32) (local $pidAt i32) (local $tag i32) (local $plen i32)
    (local $events i32) (local $first i32) (local $last i32) (local $stops i64) (local $v i64)
    (local.set $p (local.get $start))
    (local.set $first (i32.const -1))
    (local.set $last (i32.const -1))
    (block $walked
      (loop $next
        (br_if $walked (i32.ge_u (local.get $p) (local.get $end)))
        ;; Not an event (field 2, length-delimited: tag byte 0x12). The cpu (field 1, a varint)
        ;; and a length-delimited field of a one-byte tag (compact_sched) are skipped here when
        ;; whole; any other field (lost_events), or one cut short, goes to `field`.
        (local.set $b (i32.load8_u (local.get $p)))
        (if (i32.ne (local.get $b) (i32.const 0x12))
          (then
            (block $toField
              (br_if $toField (i32.and (i32.ne (local.get $b) (i32.const 0x08))
                                       (i32.ne (i32.and (local.get $b) (i32.const 0x87)) (i32.const 0x02))))
              (local.set $v (call $varint (i32.add (local.get $p) (i32.const 1)) (local.get $end)))
              (br_if $toField (i32.eqz (global.get $at)))
              (local.set $q (global.get $at))
              (if (i32.eq (local.get $b) (i32.const 0x08))
                (then
                  (local.set $p (local.get $q))
                  (br $next)))
              (br_if $toField (i64.gt_u (local.get $v) (i64.extend_i32_u (i32.sub (local.get $end) (local.get $q)))))
              (local.set $p (i32.add (local.get $q) (i32.wrap_i64 (local.get $v))))
              (br $next))
            (local.set $p (call $field (local.get $p) (local.get $end)))
            (br $next)))
        ;; The event's length: a varint of at most 5 bytes, nearly always 1 or 2.
        (local.set $b (i32.load8_u offset=1 (local.get $p)))
        (local.set $len (i32.and (local.get $b) (i32.const 0x7f)))
        (local.set $s (i32.add (local.get $p) (i32.const 2)))
        (if (i32.ge_u (local.get $b) (i32.const 0x80))
          (then
            (local.set $shift (i32.const 7))
            (loop $lenByte
              (local.set $b (i32.load8_u (local.get $s)))
              (local.set $s (i32.add (local.get $s) (i32.const 1)))
              (local.set $len (i32.or (local.get $len)
                (i32.shl (i32.and (local.get $b) (i32.const 0x7f)) (local.get $shift))))
              (if (i32.ge_u (local.get $b) (i32.const 0x80))
                (then
                  (local.set $shift (i32.add (local.get $shift) (i32.const 7)))
                  (br_if $lenByte (i32.lt_u (local.get $shift) (i32.const 35)))
                  (return (i32.const -1)))))))
        (if (i32.gt_u (local.get $s) (local.get $end)) (then (return (i32.const -1))))
        (if (i32.gt_u (local.get $len) (i32.sub (local.get $end) (local.get $s))) (then (return (i32.const -1))))
        (local.set $e (i32.add (local.get $s) (local.get $len)))
        ;; Straight through: timestamp (0x08), pid (0x10), common_flags (0x28), payload.
        (local.set $q (local.get $s))
        (local.set $tsAt (i32.const -1))
        (local.set $pidAt (i32.const -1))
        (if (i32.eq (i32.load8_u (local.get $q)) (i32.const 0x08))
          (then
            (local.set $tsAt (i32.add (local.get $q) (i32.const 1)))
            (local.set $stops (i64.and (i64.xor (i64.load (local.get $tsAt)) (i64.const -1)) (i64.const 0x8080808080808080)))
            (local.set $q (if (result i32) (i64.eqz (local.get $stops))
              (then (call $skipVarint (local.get $tsAt) (local.get $e)))
              (else (i32.add (local.get $tsAt) (i32.add (i32.wrap_i64 (i64.shr_u (i64.ctz (local.get $stops)) (i64.const 3))) (i32.const 1))))))))
        (if (i32.eq (i32.load8_u (local.get $q)) (i32.const 0x10))
          (then
            (local.set $pidAt (i32.add (local.get $q) (i32.const 1)))
            (local.set $stops (i64.and (i64.xor (i64.load (local.get $pidAt)) (i64.const -1)) (i64.const 0x8080808080808080)))
            (local.set $q (if (result i32) (i64.eqz (local.get $stops))
              (then (call $skipVarint (local.get $pidAt) (local.get $e)))
              (else (i32.add (local.get $pidAt) (i32.add (i32.wrap_i64 (i64.shr_u (i64.ctz (local.get $stops)) (i64.const 3))) (i32.const 1))))))))
        (if (i32.eq (i32.load8_u (local.get $q)) (i32.const 0x28))
          (then
            (local.set $q (i32.add (local.get $q) (i32.const 1)))
            (local.set $stops (i64.and (i64.xor (i64.load (local.get $q)) (i64.const -1)) (i64.const 0x8080808080808080)))
            (local.set $q (if (result i32) (i64.eqz (local.get $stops))
              (then (call $skipVarint (local.get $q) (local.get $e)))
              (else (i32.add (local.get $q) (i32.add (i32.wrap_i64 (i64.shr_u (i64.ctz (local.get $stops)) (i64.const 3))) (i32.const 1))))))))
        ;; The payload's tag and length, each taken as at most 2 bytes (a third would make it >= 2^14).
        (local.set $tag (i32.load8_u (local.get $q)))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (if (i32.ge_u (local.get $tag) (i32.const 0x80))
          (then
            (local.set $tag (i32.or (i32.and (local.get $tag) (i32.const 0x7f))
                                    (i32.shl (i32.load8_u (local.get $q)) (i32.const 7))))
            (local.set $q (i32.add (local.get $q) (i32.const 1)))))
        (local.set $plen (i32.load8_u (local.get $q)))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (if (i32.ge_u (local.get $plen) (i32.const 0x80))
          (then
            (local.set $plen (i32.or (i32.and (local.get $plen) (i32.const 0x7f))
                                     (i32.shl (i32.load8_u (local.get $q)) (i32.const 7))))
            (local.set $q (i32.add (local.get $q) (i32.const 1)))))
        (if (i32.or
              (i32.or (i32.ne (i32.and (local.get $tag) (i32.const 7)) (i32.const 2))
                      (i32.ge_u (local.get $tag) (i32.const 0x4000)))
              (i32.or (i32.ge_u (local.get $plen) (i32.const 0x4000))
                      (i32.ne (i32.add (local.get $q) (local.get $plen)) (local.get $e))))
          (then (local.set $tsAt (call $event (local.get $s) (local.get $e))))
          (else
            (if (i32.load8_u offset=16 (i32.shr_u (local.get $tag) (i32.const 3)))
              (then
                ;; dma_heap_stat (tag (351 << 3) | 2), binder and dmabuf_rss_stat events decoded
                ;; here, else handed over. (Wasm has no short-circuit `or`: each call is made only
                ;; for its tag.)
                (if (i32.eqz
                      (if (result i32) (i32.eq (local.get $tag) (i32.const 2810))
                        (then (call $stat (local.get $q) (local.get $e) (local.get $tsAt) (local.get $pidAt)
                                          (i32.const 4096) (i32.const 8) (i32.const 1536) (i32.const 1)))
                        (else (if (result i32) (i32.eq (i32.and (local.get $tag) (i32.const -9)) (i32.const 402))
                          ;; binder_transaction (50 << 3 | 2 = 402) or _received (51: 410).
                          (then (call $binder (local.get $q) (local.get $e) (local.get $tsAt) (local.get $pidAt)
                                              (i32.shr_u (i32.and (local.get $tag) (i32.const 8)) (i32.const 3))))
                          (else (if (result i32) (i32.eq (local.get $tag) (i32.const 4634))
                            ;; dmabuf_rss_stat (579 << 3 | 2)
                            (then (call $stat (local.get $q) (local.get $e) (local.get $tsAt) (local.get $pidAt)
                                              (i32.const 131072) (i32.const 2088) (i32.const 1024) (i32.const 0)))
                            (else (i32.const 0))))))))
                  (then (local.set $tsAt (call $event (local.get $s) (local.get $e)))))))))
        (if (i32.eqz (local.get $events)) (then (local.set $first (local.get $tsAt))))
        (local.set $last (local.get $tsAt))
        (local.set $events (i32.add (local.get $events) (i32.const 1)))
        (local.set $p (local.get $e))
        (br $next)))
    (i32.store (i32.const 0) (local.get $first))
    (i32.store (i32.const 4) (local.get $last))
    (local.get $events))
;; ---- whole packets ----------------------------------------------------------------------

  ;; The smallest and largest timestamps noted by `packets`; where their varints start is at
  ;; memory[2072] and [2076] (-1: none yet).
  (global $minTs (mut i64) (i64.const 0))
  (global $maxTs (mut i64) (i64.const 0))

  ;; The 64-bit varint at q as the JavaScript reader (wire.ts, Cursor.u64) takes it: at most ten
  ;; bytes, whatever follows (the memory has slack after any bundle), bits past 64 dropped.
  (func $u64At (param $q i32) (result i64)
    (local $v i64) (local $shift i64) (local $b i32)
    (loop $byte
      (local.set $b (i32.load8_u (local.get $q)))
      (local.set $v (i64.or (local.get $v)
        (i64.shl (i64.extend_i32_u (i32.and (local.get $b) (i32.const 0x7f))) (local.get $shift))))
      (local.set $q (i32.add (local.get $q) (i32.const 1)))
      (local.set $shift (i64.add (local.get $shift) (i64.const 7)))
      (br_if $byte (i32.and (i32.ge_u (local.get $b) (i32.const 0x80)) (i64.lt_u (local.get $shift) (i64.const 70)))))
    (local.get $v))

  ;; Note the timestamp whose varint starts at q (none when q < 0) in the bounds.
  (func $noteTs (param $q i32)
    (local $v i64)
    (if (i32.lt_s (local.get $q) (i32.const 0)) (then (return)))
    (local.set $v (call $u64At (local.get $q)))
    (if (i32.or (i32.lt_s (i32.load (i32.const 2072)) (i32.const 0)) (i64.lt_u (local.get $v) (global.get $minTs)))
      (then
        (global.set $minTs (local.get $v))
        (i32.store (i32.const 2072) (local.get $q))))
    (if (i32.or (i32.lt_s (i32.load (i32.const 2076)) (i32.const 0)) (i64.gt_u (local.get $v) (global.get $maxTs)))
      (then
        (global.set $maxTs (local.get $v))
        (i32.store (i32.const 2076) (local.get $q)))))

  ;; The end of the varint at q of at most `max` bytes, ending before e; 0 when it does not.
  (func $varintEnd (param $q i32) (param $e i32) (param $max i32) (result i32)
    (local $stop i32)
    (local.set $stop (i32.add (local.get $q) (local.get $max)))
    (loop $byte
      (if (i32.or (i32.ge_u (local.get $q) (local.get $e)) (i32.ge_u (local.get $q) (local.get $stop)))
        (then (return (i32.const 0))))
      (local.set $q (i32.add (local.get $q) (i32.const 1)))
      (br_if $byte (i32.ge_u (i32.load8_u (i32.sub (local.get $q) (i32.const 1))) (i32.const 0x80))))
    (local.get $q))

  ;; Whether the TracePacket at [s, e) is one the walk decodes whole: every field whole and of a
  ;; possible wire type, none of the payloads decoded elsewhere (process_tree 2, sys_stats 7,
  ;; process_stats 9, compressed_packets 50, gpu_mem_total 71, zstd_compressed_packets 133, when
  ;; length-delimited). Tags of more than four bytes and lengths of more than four are left to
  ;; the decoder too. The decoder's reading of such a packet is the rule (decoder.ts).
  (func $plain (param $s i32) (param $e i32) (result i32)
    (local $q i32) (local $r i32) (local $tag i32) (local $field i32) (local $len i32)
    (local.set $q (local.get $s))
    (block $walked
      (loop $next
        (br_if $walked (i32.ge_u (local.get $q) (local.get $e)))
        (local.set $r (call $varintEnd (local.get $q) (local.get $e) (i32.const 4)))
        (if (i32.eqz (local.get $r)) (then (return (i32.const 0))))
        (local.set $tag (i32.wrap_i64 (call $u64At (local.get $q))))
        (local.set $q (local.get $r))
        (local.set $field (i32.shr_u (local.get $tag) (i32.const 3)))
        (block $skipped
          (block $len
            (block $i32
              (block $i64
                (block $varint
                  (br_table $varint $i64 $len $skipped $skipped $i32 $skipped $skipped
                    (i32.and (local.get $tag) (i32.const 7))))
                ;; varint
                (local.set $q (call $varintEnd (local.get $q) (local.get $e) (i32.const 10)))
                (if (i32.eqz (local.get $q)) (then (return (i32.const 0))))
                (br $next))
              ;; 64-bit
              (local.set $q (i32.add (local.get $q) (i32.const 8)))
              (br_if $next (i32.le_u (local.get $q) (local.get $e)))
              (return (i32.const 0)))
            ;; 32-bit
            (local.set $q (i32.add (local.get $q) (i32.const 4)))
            (br_if $next (i32.le_u (local.get $q) (local.get $e)))
            (return (i32.const 0)))
          ;; length-delimited
          (local.set $r (call $varintEnd (local.get $q) (local.get $e) (i32.const 4)))
          (if (i32.eqz (local.get $r)) (then (return (i32.const 0))))
          (local.set $len (i32.wrap_i64 (call $u64At (local.get $q))))
          (local.set $q (local.get $r))
          (if (i32.gt_u (local.get $len) (i32.sub (local.get $e) (local.get $q))) (then (return (i32.const 0))))
          (local.set $q (i32.add (local.get $q) (local.get $len)))
          (if (i32.or
                (i32.or (i32.eq (local.get $field) (i32.const 2)) (i32.eq (local.get $field) (i32.const 7)))
                (i32.or
                  (i32.or (i32.eq (local.get $field) (i32.const 9)) (i32.eq (local.get $field) (i32.const 50)))
                  (i32.or (i32.eq (local.get $field) (i32.const 71)) (i32.eq (local.get $field) (i32.const 133)))))
            (then (return (i32.const 0))))
          (br $next))
        ;; an impossible wire type
        (return (i32.const 0))))
    (i32.const 1))

  ;; `packets(start, end)` walks the `Trace.packet` fields at memory[start, end) while each is
  ;; whole there (tag byte 0x0a, a length of at most 4 bytes and `maxPacket` bytes): a packet
  ;; `plain` says is decoded here, its ftrace bundles walked by `bundle` (one with an event
  ;; running past its end stops its packet, which goes to the import `failed(s, e)`); any other
  ;; goes to the import `packet(s, e)`, which decodes it and returns whether the walk may go on
  ;; (0: the decoder has packets waiting, which must keep their order). Returns where it stopped:
  ;; a field that is not a whole packet, or the end. Keeps at memory[2064] the number of packets
  ;; it decoded, at [2068] their ftrace events (of whole bundles), at [2072] and [2076] where the
  ;; varints of the smallest and largest timestamps noted start (each bundle's first and last
  ;; events', and each packet's own: the last of its field 8; -1: none), at [2080] and [2084]
  ;; where the packet it decodes starts and ends: all as they are when an import throws.
  (func (export "packets") (param $start i32) (param $end i32) (param $maxPacket i32) (result i32)
    (local $p i32) (local $s i32) (local $e i32) (local $len i32) (local $q i32) (local $r i32)
    (local $tag i32) (local $n i32) (local $tsAt i32)
    (local.set $p (local.get $start))
    (i32.store (i32.const 2064) (i32.const 0))
    (i32.store (i32.const 2068) (i32.const 0))
    (i32.store (i32.const 2072) (i32.const -1))
    (i32.store (i32.const 2076) (i32.const -1))
    (block $stop
      (loop $next
        (br_if $stop (i32.ge_u (local.get $p) (local.get $end)))
        (br_if $stop (i32.ne (i32.load8_u (local.get $p)) (i32.const 0x0a)))
        (local.set $s (call $varintEnd (i32.add (local.get $p) (i32.const 1)) (local.get $end) (i32.const 4)))
        (br_if $stop (i32.eqz (local.get $s)))
        (local.set $len (i32.wrap_i64 (call $u64At (i32.add (local.get $p) (i32.const 1)))))
        (br_if $stop (i32.gt_u (local.get $len) (local.get $maxPacket)))
        (br_if $stop (i32.gt_u (local.get $len) (i32.sub (local.get $end) (local.get $s))))
        (local.set $e (i32.add (local.get $s) (local.get $len)))
        (local.set $p (local.get $e))
        (if (i32.eqz (call $plain (local.get $s) (local.get $e)))
          (then
            (br_if $next (call $packet (local.get $s) (local.get $e)))
            (br $stop)))
        (i32.store (i32.const 2064) (i32.add (i32.load (i32.const 2064)) (i32.const 1)))
        (i32.store (i32.const 2080) (local.get $s))
        (i32.store (i32.const 2084) (local.get $e))
        (local.set $tsAt (i32.const -1))
        ;; Its fields, whole and of possible wire types (`plain`).
        (local.set $q (local.get $s))
        (block $done
          (loop $field
            (br_if $done (i32.ge_u (local.get $q) (local.get $e)))
            (local.set $r (call $varintEnd (local.get $q) (local.get $e) (i32.const 4)))
            (local.set $tag (i32.wrap_i64 (call $u64At (local.get $q))))
            (local.set $q (local.get $r))
            (block $skipped
              (block $len
                (block $i32
                  (block $i64
                    (block $varint
                      (br_table $varint $i64 $len $skipped $skipped $i32 $skipped $skipped
                        (i32.and (local.get $tag) (i32.const 7))))
                    ;; timestamp = 8: the packet's own
                    (if (i32.eq (local.get $tag) (i32.const 0x40)) (then (local.set $tsAt (local.get $q))))
                    (local.set $q (call $varintEnd (local.get $q) (local.get $e) (i32.const 10)))
                    (br $field))
                  (local.set $q (i32.add (local.get $q) (i32.const 8)))
                  (br $field))
                (local.set $q (i32.add (local.get $q) (i32.const 4)))
                (br $field))
              (local.set $r (call $varintEnd (local.get $q) (local.get $e) (i32.const 4)))
              (local.set $len (i32.wrap_i64 (call $u64At (local.get $q))))
              (local.set $q (i32.add (local.get $r) (local.get $len)))
              ;; ftrace_events = 1
              (br_if $field (i32.ne (local.get $tag) (i32.const 0x0a)))
              (local.set $n (call $bundle (local.get $r) (local.get $q)))
              (if (i32.lt_s (local.get $n) (i32.const 0))
                (then
                  (call $failed (local.get $s) (local.get $e))
                  (br $next)))
              (i32.store (i32.const 2068) (i32.add (i32.load (i32.const 2068)) (local.get $n)))
              (call $noteTs (i32.load (i32.const 0)))
              (call $noteTs (i32.load (i32.const 4)))
              (br $field))
            (unreachable)))
        (call $noteTs (local.get $tsAt))
        (br $next)))
    (local.get $p))
)

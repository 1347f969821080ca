;; The loops of the charge pass (charge.ts) over the DMA-BUF heap events of a trace, in
;; WebAssembly: `npm run build` assembles this file (wabt's wat2wasm) into charge.wasm. The pass
;; runs once per trace: JavaScript loops ran it mostly before V8 had optimized them, and their
;; fresh typed arrays cost page faults and a garbage collection. Here it runs compiled from its
;; first event, in the memory the events were captured into while the trace loaded (charge.ts),
;; which already holds a record per event: the pass writes its results into those records. On
;; the benchmark's trace (171,000 events) the pass went from some 50 to under 30 ms, then to
;; some 15 ms with the record addresses and the direct tables' slots computed in place: the
;; CLI compiles WebAssembly with the baseline compiler only (bin/dmabuf-triage.js), which
;; inlines no call. Its comments state the rules, which are those of the SQL views (src/queries/).
;;
;; `ev`: the event records, 112 bytes each (event i's at ev + 112 i), in rowid order. Event i's
;; record holds, f64:
;;   0 rowid   8 ts   16 inode   24 size   32 heap total   40 tid   48 attribution (when it is
;;   not the tid, `attr` says which)   56 charged thread   64 cumulative
;; and i32: 72 next charged event on its inode (-1: none)   76 responsible (-1: not charged).
;; Record q also holds the state of the q-th inode (ids in trace order): 80 its first event at
;; its latest ts (i32), 84 its last charged event (i32), 88 latest ts, 96 attribution of the
;; last event at it, 104 of the last one before it (f64). Values are exact integers (NaN: NULL).
;;
;; A table gives ids to inodes, or responsibles to threads: i32 values plus one (0: empty),
;; from zeroed memory, either direct (indexed by key - base, for keys in a compact range: a
;; small table, in cache) or a hash over mask + 1 entries (i64 keys, then the values).
(module
  (import "pass" "memory" (memory 1))
  ;; The responsible (index) of a thread the pass meets for the first time.
  (import "pass" "responsible" (func $responsible (param f64) (result i32)))

  ;; Bytes of a responsible's record in `per` (fields below); the records of the traces (one
  ;; each, the same fields) follow the last responsible's.
  ;;   0 running sum   8 peak   16 first ts   24 last ts   32 allocs   40 frees
  ;;  48 allocated    56 freed  (charged events)
  ;;  64 buffers   72 bytes   80 largest   88 largest inode   96 first ts   104 last ts
  ;;  (buffers outstanding at the end)
  (global $RECORD i32 (i32.const 112))

  ;; Where the value of key v is in a table (the key is stored when its entry is empty).
  (func $find (param $table i32) (param $mask i32) (param $v f64) (result i32)
    (local $key i64) (local $h i32) (local $values i32)
    (local.set $key (i64.trunc_f64_s (local.get $v)))
    (local.set $values (i32.add (local.get $table) (i32.shl (i32.add (local.get $mask) (i32.const 1)) (i32.const 3))))
    (local.set $h (i32.and (i32.wrap_i64 (i64.shr_u (i64.mul (local.get $key) (i64.const 0x9E3779B97F4A7C15)) (i64.const 32)))
                           (local.get $mask)))
    (loop $probe
      (if (i32.eqz (i32.load (i32.add (local.get $values) (i32.shl (local.get $h) (i32.const 2)))))
        (then
          (i64.store (i32.add (local.get $table) (i32.shl (local.get $h) (i32.const 3))) (local.get $key))
          (return (i32.add (local.get $values) (i32.shl (local.get $h) (i32.const 2))))))
      (if (i64.eq (i64.load (i32.add (local.get $table) (i32.shl (local.get $h) (i32.const 3)))) (local.get $key))
        (then (return (i32.add (local.get $values) (i32.shl (local.get $h) (i32.const 2))))))
      (local.set $h (i32.and (i32.add (local.get $h) (i32.const 1)) (local.get $mask)))
      (br $probe))
    (unreachable))

  ;; order[k] = k (which the caller sorts when the events are not in trace order).
  (func (export "identity") (param $order i32) (param $n i32)
    (local $k i32)
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $k) (local.get $n)))
        (i32.store (i32.add (local.get $order) (i32.shl (local.get $k) (i32.const 2))) (local.get $k))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $each))))

  ;; In trace order: the charged thread of each event (NaN: dropped), the next charged event on
  ;; its inode, and per inode the first event at its latest ts. An allocation is charged to its
  ;; attribution (the f64 at byte `attr`); a free to the attribution of the latest strictly
  ;; earlier event on its inode (the last in order at the greatest earlier ts), none when there
  ;; is none. Inodes get ids first, first + 1... in order from the table (events of several
  ;; traces: a call per trace, the table emptied between them, so that each trace's inodes are a
  ;; range of ids and its events apart). Returns the number of inodes, those of earlier calls
  ;; included (NULL is one).
  (func (export "charge") (param $n i32) (param $ev i32) (param $attr i32) (param $order i32)
    (param $table i32) (param $mask i32) (param $direct i32) (param $base f64) (param $first i32) (result i32)
    (local $k i32) (local $i i32) (local $e i32) (local $t f64) (local $a f64) (local $alloc i32) (local $v f64)
    (local $count i32) (local $fresh i32) (local $nullId i32) (local $q i32) (local $at i32)
    (local $s i32) (local $c f64) (local $prev i32)
    (local.set $nullId (i32.const -1))
    (local.set $count (local.get $first))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $k) (local.get $n)))
        (local.set $i (i32.load (i32.add (local.get $order) (i32.shl (local.get $k) (i32.const 2)))))
        (local.set $e (i32.add (local.get $ev) (i32.mul (local.get $i) (i32.const 112))))
        ;; No next charged event yet (a later one links it, as it links this one to its previous).
        (i32.store offset=72 (local.get $e) (i32.const -1))
        (local.set $t (f64.load offset=8 (local.get $e)))
        (local.set $a (f64.load (i32.add (local.get $e) (local.get $attr))))
        (local.set $alloc (f64.gt (f64.load offset=24 (local.get $e)) (f64.const 0)))
        ;; q: the inode's id (fresh: the next one, if it is new).
        (local.set $fresh (local.get $count))
        (local.set $v (f64.load offset=16 (local.get $e)))
        (if (f64.ne (local.get $v) (local.get $v))
          (then
            (if (i32.lt_s (local.get $nullId) (i32.const 0))
              (then (local.set $nullId (local.get $count))
                    (local.set $count (i32.add (local.get $count) (i32.const 1)))))
            (local.set $q (local.get $nullId)))
          (else
            (local.set $at (if (result i32) (local.get $direct)
              (then (i32.add (local.get $table)
                (i32.shl (i32.wrap_i64 (i64.trunc_f64_s (f64.sub (local.get $v) (local.get $base)))) (i32.const 2))))
              (else (call $find (local.get $table) (local.get $mask) (local.get $v)))))
            (local.set $q (i32.load (local.get $at)))
            (if (i32.eqz (local.get $q))
              (then
                (local.set $count (i32.add (local.get $count) (i32.const 1)))
                (i32.store (local.get $at) (local.get $count))
                (local.set $q (local.get $count))))
            (local.set $q (i32.sub (local.get $q) (i32.const 1)))))
        (local.set $s (i32.add (local.get $ev) (i32.mul (local.get $q) (i32.const 112))))
        (if (i32.eq (local.get $q) (local.get $fresh))
          (then
            ;; The inode's first event.
            (local.set $c (select (local.get $a) (f64.const nan) (local.get $alloc)))
            (f64.store offset=88 (local.get $s) (local.get $t))
            (f64.store offset=96 (local.get $s) (local.get $a))
            (f64.store offset=104 (local.get $s) (f64.const nan))
            (i32.store offset=84 (local.get $s) (i32.const -1))
            (i32.store offset=80 (local.get $s) (local.get $i)))
          (else
            (if (f64.lt (f64.load offset=88 (local.get $s)) (local.get $t))
              (then
                ;; A later ts than the inode's latest.
                (local.set $c (select (local.get $a) (f64.load offset=96 (local.get $s)) (local.get $alloc)))
                (f64.store offset=104 (local.get $s) (f64.load offset=96 (local.get $s)))
                (f64.store offset=88 (local.get $s) (local.get $t))
                (f64.store offset=96 (local.get $s) (local.get $a))
                (i32.store offset=80 (local.get $s) (local.get $i)))
              (else
                ;; The same ts as the inode's latest.
                (local.set $c (select (local.get $a) (f64.load offset=104 (local.get $s)) (local.get $alloc)))
                (f64.store offset=96 (local.get $s) (local.get $a))))))
        (f64.store offset=56 (local.get $e) (local.get $c))
        (if (f64.eq (local.get $c) (local.get $c))
          (then
            (local.set $prev (i32.load offset=84 (local.get $s)))
            (if (i32.ge_s (local.get $prev) (i32.const 0))
              (then (i32.store offset=72 (i32.add (local.get $ev) (i32.mul (local.get $prev) (i32.const 112))) (local.get $i))))
            (i32.store offset=84 (local.get $s) (local.get $i))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $each)))
    (local.get $count))

  ;; Each event's responsible (-1: not charged), in event order; a thread's is asked of
  ;; `responsible` once, and kept in the table.
  (func (export "responsibles") (param $n i32) (param $ev i32) (param $table i32) (param $mask i32) (param $direct i32) (param $base f64)
    (local $i i32) (local $e i32) (local $c f64) (local $at i32) (local $w i32)
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $e (i32.add (local.get $ev) (i32.mul (local.get $i) (i32.const 112))))
        (local.set $c (f64.load offset=56 (local.get $e)))
        (if (f64.ne (local.get $c) (local.get $c))
          (then (local.set $w (i32.const -1)))
          (else
            (local.set $at (if (result i32) (local.get $direct)
              (then (i32.add (local.get $table)
                (i32.shl (i32.wrap_i64 (i64.trunc_f64_s (f64.sub (local.get $c) (local.get $base)))) (i32.const 2))))
              (else (call $find (local.get $table) (local.get $mask) (local.get $c)))))
            (local.set $w (i32.load (local.get $at)))
            (if (i32.eqz (local.get $w))
              (then
                (local.set $w (i32.add (call $responsible (local.get $c)) (i32.const 1)))
                (i32.store (local.get $at) (local.get $w))))
            (local.set $w (i32.sub (local.get $w) (i32.const 1)))))
        (i32.store offset=76 (local.get $e) (local.get $w))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each))))

  ;; The cumulative value of the events order[from, to): their responsible's running sum.
  (func $settle (param $from i32) (param $to i32) (param $ev i32) (param $order i32) (param $per i32)
    (local $e i32) (local $w i32)
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $from) (local.get $to)))
        (local.set $e (i32.add (local.get $ev) (i32.mul (i32.load (i32.add (local.get $order) (i32.shl (local.get $from) (i32.const 2)))) (i32.const 112))))
        (local.set $w (i32.load offset=76 (local.get $e)))
        (if (i32.ge_s (local.get $w) (i32.const 0))
          (then (f64.store offset=64 (local.get $e) (f64.load (i32.add (local.get $per) (i32.mul (local.get $w) (global.get $RECORD)))))))
        (local.set $from (i32.add (local.get $from) (i32.const 1)))
        (br $each))))

  ;; The records 0..count-1 at `per`, empty: the responsibles', then the traces'.
  (func (export "clear") (param $per i32) (param $count i32)
    (local $w i32) (local $p i32)
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $w) (local.get $count)))
        (local.set $p (i32.add (local.get $per) (i32.mul (local.get $w) (global.get $RECORD))))
        (memory.fill (local.get $p) (i32.const 0) (global.get $RECORD))
        (f64.store offset=8 (local.get $p) (f64.const -inf))
        (f64.store offset=16 (local.get $p) (f64.const nan))
        (f64.store offset=24 (local.get $p) (f64.const nan))
        (f64.store offset=80 (local.get $p) (f64.const -inf))
        (f64.store offset=88 (local.get $p) (f64.const -inf))
        (f64.store offset=96 (local.get $p) (f64.const inf))
        (f64.store offset=104 (local.get $p) (f64.const -inf))
        (local.set $w (i32.add (local.get $w) (i32.const 1)))
        (br $each))))

  ;; The n events order[0, n) of one trace, in trace order (after "clear"): the running sums, per
  ;; responsible (its peak; each event's cumulative value, its sum after every event at the
  ;; event's ts, as Perfetto's) and of the trace (its record at `trace`), and the totals of
  ;; charged events. A responsible is of one trace: its events are all among these. And the
  ;; heaps' total over the trace's time, each value lasting until its next event (the last one
  ;; until the end of the trace, `traceEnd`, NaN when unknown): at `out`, f64s: the time-weighted
  ;; sum as SQLite's sum() adds it (Kahan-Babuska-Neumaier: sum, then its error), the duration,
  ;; the number of values, min, max; then the bytes of all frees.
  (func (export "sums") (param $n i32) (param $ev i32) (param $order i32) (param $per i32) (param $trace i32)
    (param $traceEnd f64) (param $out i32)
    (local $w i32) (local $p i32) (local $k i32) (local $e i32) (local $t f64) (local $prevT f64)
    (local $group i32) (local $sz f64) (local $s f64)
    (local $h f64) (local $d f64) (local $r f64) (local $ws f64) (local $err f64) (local $sum f64) (local $dur f64)
    (local $values f64) (local $min f64) (local $max f64) (local $freed f64)
    (local.set $min (f64.const inf))
    (local.set $max (f64.const -inf))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $k) (local.get $n)))
        (local.set $e (i32.add (local.get $ev) (i32.mul (i32.load (i32.add (local.get $order) (i32.shl (local.get $k) (i32.const 2)))) (i32.const 112))))
        (local.set $t (f64.load offset=8 (local.get $e)))
        (local.set $sz (f64.load offset=24 (local.get $e)))
        (if (i32.and (i32.gt_u (local.get $k) (i32.const 0)) (f64.ne (local.get $t) (local.get $prevT)))
          (then
            ;; A new ts: the previous one's events get their responsible's sum after all of it
            ;; (an event alone at its ts has it already).
            (if (i32.gt_u (i32.sub (local.get $k) (local.get $group)) (i32.const 1))
              (then (call $settle (local.get $group) (local.get $k) (local.get $ev) (local.get $order) (local.get $per))))
            (local.set $group (local.get $k))))
        (local.set $prevT (local.get $t))
        (local.set $w (i32.load offset=76 (local.get $e)))
        (if (i32.ge_s (local.get $w) (i32.const 0))
          (then
            (local.set $p (i32.add (local.get $per) (i32.mul (local.get $w) (global.get $RECORD))))
            (local.set $s (f64.add (f64.load (local.get $p)) (local.get $sz)))
            (f64.store (local.get $p) (local.get $s))
            (f64.store offset=64 (local.get $e) (local.get $s))
            (if (f64.gt (local.get $s) (f64.load offset=8 (local.get $p))) (then (f64.store offset=8 (local.get $p) (local.get $s))))
            (if (f64.ne (f64.load offset=16 (local.get $p)) (f64.load offset=16 (local.get $p)))
              (then (f64.store offset=16 (local.get $p) (local.get $t))))
            (f64.store offset=24 (local.get $p) (local.get $t))
            (local.set $s (f64.add (f64.load (local.get $trace)) (local.get $sz)))
            (f64.store (local.get $trace) (local.get $s))
            (if (f64.gt (local.get $s) (f64.load offset=8 (local.get $trace))) (then (f64.store offset=8 (local.get $trace) (local.get $s))))
            (if (f64.gt (local.get $sz) (f64.const 0))
              (then
                (f64.store offset=32 (local.get $p) (f64.add (f64.load offset=32 (local.get $p)) (f64.const 1)))
                (f64.store offset=48 (local.get $p) (f64.add (f64.load offset=48 (local.get $p)) (local.get $sz)))
                (f64.store offset=32 (local.get $trace) (f64.add (f64.load offset=32 (local.get $trace)) (f64.const 1)))
                (f64.store offset=48 (local.get $trace) (f64.add (f64.load offset=48 (local.get $trace)) (local.get $sz))))
              (else
                (f64.store offset=40 (local.get $p) (f64.add (f64.load offset=40 (local.get $p)) (f64.const 1)))
                (f64.store offset=56 (local.get $p) (f64.sub (f64.load offset=56 (local.get $p)) (local.get $sz)))
                (f64.store offset=40 (local.get $trace) (f64.add (f64.load offset=40 (local.get $trace)) (f64.const 1)))
                (f64.store offset=56 (local.get $trace) (f64.sub (f64.load offset=56 (local.get $trace)) (local.get $sz)))))))
        ;; The heaps' total, of every event.
        (if (f64.le (local.get $sz) (f64.const 0)) (then (local.set $freed (f64.sub (local.get $freed) (local.get $sz)))))
        (local.set $h (f64.load offset=32 (local.get $e)))
        (if (f64.eq (local.get $h) (local.get $h))
          (then
            (if (i32.lt_u (i32.add (local.get $k) (i32.const 1)) (local.get $n))
              (then (local.set $d (f64.sub
                (f64.load offset=8 (i32.add (local.get $ev) (i32.mul
                  (i32.load (i32.add (local.get $order) (i32.shl (i32.add (local.get $k) (i32.const 1)) (i32.const 2))))
                  (i32.const 112))))
                (local.get $t))))
              (else (local.set $d (f64.sub
                (f64.max (select (local.get $traceEnd) (local.get $t) (f64.eq (local.get $traceEnd) (local.get $traceEnd))) (local.get $t))
                (local.get $t)))))
            (local.set $r (f64.mul (local.get $h) (local.get $d)))
            (local.set $sum (f64.add (local.get $ws) (local.get $r)))
            (if (f64.gt (f64.abs (local.get $ws)) (f64.abs (local.get $r)))
              (then (local.set $err (f64.add (local.get $err) (f64.add (f64.sub (local.get $ws) (local.get $sum)) (local.get $r)))))
              (else (local.set $err (f64.add (local.get $err) (f64.add (f64.sub (local.get $r) (local.get $sum)) (local.get $ws))))))
            (local.set $ws (local.get $sum))
            (local.set $dur (f64.add (local.get $dur) (local.get $d)))
            (local.set $values (f64.add (local.get $values) (f64.const 1)))
            (if (f64.lt (local.get $h) (local.get $min)) (then (local.set $min (local.get $h))))
            (if (f64.gt (local.get $h) (local.get $max)) (then (local.set $max (local.get $h))))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $each)))
    (call $settle (local.get $group) (local.get $n) (local.get $ev) (local.get $order) (local.get $per))
    (f64.store (local.get $out) (local.get $ws))
    (f64.store offset=8 (local.get $out) (local.get $err))
    (f64.store offset=16 (local.get $out) (local.get $dur))
    (f64.store offset=24 (local.get $out) (local.get $values))
    (f64.store offset=32 (local.get $out) (local.get $min))
    (f64.store offset=40 (local.get $out) (local.get $max))
    (f64.store offset=48 (local.get $out) (local.get $freed)))

  ;; Add a buffer outstanding at the end (the allocation at e) to the record at p.
  (func $outstanding (param $p i32) (param $e i32)
    (local $sz f64) (local $t f64)
    (local.set $sz (f64.load offset=24 (local.get $e)))
    (local.set $t (f64.load offset=8 (local.get $e)))
    (f64.store offset=64 (local.get $p) (f64.add (f64.load offset=64 (local.get $p)) (f64.const 1)))
    (f64.store offset=72 (local.get $p) (f64.add (f64.load offset=72 (local.get $p)) (local.get $sz)))
    (if (f64.gt (local.get $sz) (f64.load offset=80 (local.get $p))) (then (f64.store offset=80 (local.get $p) (local.get $sz))))
    ;; A NULL (NaN) inode is never the largest.
    (if (f64.gt (f64.load offset=16 (local.get $e)) (f64.load offset=88 (local.get $p)))
      (then (f64.store offset=88 (local.get $p) (f64.load offset=16 (local.get $e)))))
    (if (f64.lt (local.get $t) (f64.load offset=96 (local.get $p))) (then (f64.store offset=96 (local.get $p) (local.get $t))))
    (if (f64.gt (local.get $t) (f64.load offset=104 (local.get $p))) (then (f64.store offset=104 (local.get $p) (local.get $t)))))

  ;; Buffers outstanding at the end of a trace, of its inodes (ids from..to-1): an inode whose
  ;; last event is an allocation, for the trace (its record at `trace`) and for the responsible it
  ;; is charged to (none when its thread is unknown). After "sums".
  (func (export "outstanding") (param $from i32) (param $to i32) (param $ev i32) (param $per i32) (param $trace i32)
    (local $q i32) (local $e i32) (local $w i32)
    (local.set $q (local.get $from))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $q) (local.get $to)))
        (local.set $e (i32.add (local.get $ev)
          (i32.mul (i32.load offset=80 (i32.add (local.get $ev) (i32.mul (local.get $q) (i32.const 112)))) (i32.const 112))))
        (if (f64.gt (f64.load offset=24 (local.get $e)) (f64.const 0))
          (then
            (call $outstanding (local.get $trace) (local.get $e))
            ;; An allocation is charged to its attribution: its responsible, if any.
            (local.set $w (i32.load offset=76 (local.get $e)))
            (if (i32.ge_s (local.get $w) (i32.const 0))
              (then (call $outstanding (i32.add (local.get $per) (i32.mul (local.get $w) (global.get $RECORD))) (local.get $e))))))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $each))))

  ;; The dma_heap_charge rows of the charged events, in event order, packed at `out`: rowid,
  ;; charged thread, its responsible's process (`pids`, an f64 per responsible, NaN: none),
  ;; cumulative, rowid of the next charged event on the inode (NaN: none). Returns the number of
  ;; values written.
  (func (export "pack") (param $n i32) (param $ev i32) (param $pids i32) (param $out i32) (result i32)
    (local $i i32) (local $e i32) (local $c f64) (local $nx i32) (local $v i32)
    (local.set $v (local.get $out))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $e (i32.add (local.get $ev) (i32.mul (local.get $i) (i32.const 112))))
        (local.set $c (f64.load offset=56 (local.get $e)))
        (if (f64.eq (local.get $c) (local.get $c))
          (then
            (local.set $nx (i32.load offset=72 (local.get $e)))
            (f64.store (local.get $v) (f64.load (local.get $e)))
            (f64.store offset=8 (local.get $v) (local.get $c))
            (f64.store offset=16 (local.get $v)
              (f64.load (i32.add (local.get $pids) (i32.shl (i32.load offset=76 (local.get $e)) (i32.const 3)))))
            (f64.store offset=24 (local.get $v) (f64.load offset=64 (local.get $e)))
            (if (i32.ge_s (local.get $nx) (i32.const 0))
              (then (f64.store offset=32 (local.get $v) (f64.load (i32.add (local.get $ev) (i32.mul (local.get $nx) (i32.const 112))))))
              (else (f64.store offset=32 (local.get $v) (f64.const nan))))
            (local.set $v (i32.add (local.get $v) (i32.const 40)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each)))
    (i32.shr_u (i32.sub (local.get $v) (local.get $out)) (i32.const 3)))
)

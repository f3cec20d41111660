// Every binding the registrar holds, stored compactly enough for a million
// phones on one node (issue 17), with the three ways the registrar reaches
// them each costing what it touches, never a walk of the whole table:
//   by AOR            a hash of AOR -> the AOR's first record, then a short
//                     chain (REGISTER, Lookup for an INVITE)
//   in order          (aor, contact) ascending (the operator's pages)
//   by expiry         earliest first, taken in bounded slices (a mass
//                     expiry is pruned between SIP reads, not in one stall)
//
// A record is about 70 bytes plus one allocation for the AOR, Contact and
// Call-ID together; the strings many bindings share (User-Agent, NAT
// reasons, keepalive reason) are interned (string_pool.h), the local
// socket is an index into the few we listen on. Bindings go in and come
// out as `Binding` values; nothing outside sees a record.
//
// Not thread-safe: one owner (the registrar).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "control/registrar/binding_store.h"
#include "control/registrar/id_key_set.h"
#include "control/registrar/string_pool.h"

namespace rtplatch {

class BindingTable {
 public:
  BindingTable();
  BindingTable(const BindingTable&) = delete;
  BindingTable& operator=(const BindingTable&) = delete;

  // Inserts the binding, or replaces the one with its (aor, contact_uri);
  // `row` is where the store keeps it (0: not stored). Returns the row the
  // replaced binding had, nullopt when the key is new.
  std::optional<BindingRow> Put(const Binding& binding, BindingRow row = 0);

  // A load of many bindings at once (a restart): between these, Put leaves
  // the ordered index alone and EndBulkLoad builds it with one sort.
  // Keys inserted one by one in the order they arrived cost a cache miss
  // per comparison: seconds for a million.
  // `expected`: about how many come (the AOR index is sized once: each
  // growth rehashes every key, a cache miss each).
  void BeginBulkLoad(size_t expected) {
    bulk_ = true;
    aor_heads_.reserve(size_ + expected);
  }
  void EndBulkLoad();
  // Removes (aor, contact_uri); the binding goes to `removed` when given.
  // False if there was none.
  bool Remove(absl::string_view aor, absl::string_view contact_uri, Binding* removed = nullptr);
  // The AOR's bindings, expired or not, in the order they were first put.
  std::vector<Binding> Get(absl::string_view aor) const;
  std::optional<Binding> Find(absl::string_view aor, absl::string_view contact_uri) const;
  // The store's row for (aor, contact_uri); nullopt if there is no binding.
  std::optional<BindingRow> RowOf(absl::string_view aor, absl::string_view contact_uri) const;
  // Bindings held, expired ones not yet taken included.
  size_t size() const { return size_; }
  // Of those, behind a NAT (a gauge kept as they change: metrics).
  size_t natted() const { return natted_; }

  // Whether a binding with expires_at <= now is held.
  bool HasExpired(int64_t now) const;
  // Removes up to `budget` bindings with expires_at <= now, earliest
  // first, appending them to `out` (and their rows to `rows`, when given);
  // returns how many.
  size_t TakeExpired(int64_t now, size_t budget, std::vector<Binding>& out,
                     std::vector<BindingRow>* rows = nullptr);

  // The AORs after `after` (all of them when empty) in ascending order,
  // each once, until `fn` returns false; starting costs a seek, not a walk.
  void ForEachAor(absl::string_view after,
                  absl::FunctionRef<bool(absl::string_view aor)> fn) const;
  // Every binding in (aor, contact) order, until `fn` returns false.
  void ForEachOrdered(absl::FunctionRef<bool(const Binding&)> fn) const;
  // The bindings live at `now` whose NAT timeout is still being learned,
  // in no order: a walk of the records as they lie in memory that builds
  // only the ones it returns (a restart asks, with a million held).
  std::vector<Binding> Learning(int64_t now) const;

 private:
  using Id = uint32_t;
  static constexpr Id kNone = UINT32_MAX;

  struct Record {
    // The AOR, Contact and Call-ID, each after a 4-byte length; null: a
    // free slot.
    std::unique_ptr<char[]> text;
    BindingRow row = 0;
    uint32_t expires_at = 0;  // unix seconds (ExpirySeconds)
    uint32_t cseq = 0;
    uint32_t keepalive_interval_ms = 0;
    Id next = kNone;  // the AOR's next record
    StringPool::Id user_agent = StringPool::kEmpty;
    StringPool::Id nat_reasons = StringPool::kEmpty;  // joined by '\n'
    StringPool::Id keepalive_reason = StringPool::kEmpty;
    Endpoint source;
    uint16_t q_milli = 1000;
    uint16_t local_socket = 0;  // index into sockets_
    uint16_t node = 0;          // index into nodes_ (0: this node)
    Binding::Transport transport = Binding::Transport::kUdp;
    bool behind_nat = false;
    bool keepalive_learning = false;
  };
  // A million records: each byte here is a megabyte (issue 17's budget is
  // 600 bytes a binding, the store's page cache included).
  static_assert(sizeof(Record) <= 72, "a binding record outgrew 72 bytes");
  struct Key {
    absl::string_view aor;
    absl::string_view contact;
  };
  // Sorts right after every binding of `aor`: where a walk resumes.
  struct AfterAor {
    absl::string_view aor;
  };
  struct OrderLess {
    using is_transparent = void;
    const BindingTable* table;
    bool operator()(Id a, Id b) const;
    bool operator()(Id a, const Key& b) const;
    bool operator()(const Key& a, Id b) const;
    bool operator()(Id a, const AfterAor& b) const { return table->AorOf(a) <= b.aor; }
    bool operator()(const AfterAor& a, Id b) const { return a.aor < table->AorOf(b); }
  };

  absl::string_view TextField(Id id, int field) const;
  absl::string_view AorOf(Id id) const { return TextField(id, 0); }
  absl::string_view ContactOf(Id id) const { return TextField(id, 1); }
  Key KeyOf(Id id) const { return {AorOf(id), ContactOf(id)}; }
  // Unix seconds in 32 bits (until 2106): a binding's expiry clamped to
  // what a record holds.
  static uint32_t ExpirySeconds(int64_t expires_at);
  static uint64_t ExpiryKey(uint32_t expires_at, Id id) {
    return static_cast<uint64_t>(expires_at) << 32 | id;
  }

  Id FindId(absl::string_view aor, absl::string_view contact_uri) const;
  Id Allocate();
  // Put's two cases: a new key's record (linked into the AOR's chain by
  // the caller; in the ordered and expiry indexes here), and a held key's
  // record rewritten (returns the row it had).
  Id Add(const Binding& binding, BindingRow row);
  BindingRow Replace(Id id, const Binding& binding, BindingRow row);
  // Writes `binding` into the record, releasing what it held before.
  void Assign(Id id, const Binding& binding);
  void Free(Id id);
  void Unlink(Id id);
  Binding Materialize(Id id) const;
  Record& R(Id id) { return chunks_[id / kChunk][id % kChunk]; }
  const Record& R(Id id) const { return chunks_[id / kChunk][id % kChunk]; }
  uint16_t SocketIndex(const Endpoint& socket);
  uint16_t NodeIndex(absl::string_view node);

  // Records in fixed chunks: growing never moves them (a vector would
  // copy a million records and hold twice their memory while it does).
  static constexpr Id kChunk = 4096;
  std::vector<std::unique_ptr<Record[]>> chunks_;
  Id allocated_ = 0;  // ids handed out so far, free ones included
  std::vector<Id> free_;
  size_t size_ = 0;
  size_t natted_ = 0;
  // Each AOR's first record, found by the AOR the record holds.
  IdKeySet<BindingTable, &BindingTable::AorOf> aor_heads_{0, {this}, {this}};
  absl::btree_set<Id, OrderLess> order_;
  bool bulk_ = false;
  std::vector<Id> bulk_ids_;  // put since BeginBulkLoad, not in order_ yet
  absl::btree_set<uint64_t> expiry_;  // expires_at << 32 | id
  StringPool strings_;
  // The few sockets bindings arrived on (ours and, in a cluster, the
  // other nodes'), and the cluster's node names: each held once.
  std::vector<Endpoint> sockets_;
  absl::flat_hash_map<Endpoint, uint16_t> socket_index_;
  std::vector<std::string> nodes_{""};
  absl::flat_hash_map<std::string, uint16_t> node_index_{{"", 0}};
};

}  // namespace rtplatch

#include "control/cluster/shared_bindings.h"

#include <cstdio>

#include "control/cluster/binding_codec.h"

namespace rtplatch {

SharedBindings::SharedBindings(RedisLink& link, Registrar& registrar)
    : link_(link), registrar_(registrar) {}

void SharedBindings::Put(const Binding& binding, bool urgent) {
  link_.Put(binding.aor, binding.contact_uri, EncodeBinding(binding, link_.options().node),
            binding.expires_at * 1000, urgent);
}

void SharedBindings::Remove(absl::string_view aor, absl::string_view contact_uri) {
  link_.Remove(aor, contact_uri);
}

bool SharedBindings::Poll(size_t budget, int64_t now, std::vector<BindingChange>& displaced) {
  std::vector<RedisLink::Remote> remote = link_.TakeRemote(budget);
  for (RedisLink::Remote& r : remote) {
    if (r.kind == RedisLink::Remote::Kind::kRemove) {
      if (registrar_.RemoveRemote(r.aor, r.contact, r.node)) ++counters_.removed;
      continue;
    }
    absl::StatusOr<Binding> b = DecodeBinding(r.value);
    if (!b.ok()) {
      // Counted, and said once in a while: a node of another version, or
      // a hand-edited key.
      if (counters_.bad_values++ % 1000 == 0) {
        std::fprintf(stderr, "rtplatch-control: cluster: %s (%llu so far)\n",
                     std::string(b.status().message()).c_str(),
                     static_cast<unsigned long long>(counters_.bad_values));
      }
      continue;
    }
    // Our own bindings come from our store, not back from Redis.
    if (b->node == link_.options().node || b->expires_at <= now) continue;
    if (std::optional<BindingChange> change = registrar_.ApplyRemote(*b)) {
      ++counters_.displaced;
      displaced.push_back(*std::move(change));
    }
    ++counters_.applied;
  }
  return remote.size() == budget;
}

}  // namespace rtplatch

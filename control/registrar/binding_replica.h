// Where the registrar reports changes to its own bindings so the other
// nodes of a cluster see them (control/cluster/shared_bindings.h writes
// them to Redis). A single node has none.
#pragma once

#include "absl/strings/string_view.h"
#include "control/registrar/binding_store.h"

namespace rtplatch {

class BindingReplica {
 public:
  virtual ~BindingReplica() = default;
  // `binding`, owned by this node, is new or changed. `urgent`: more than
  // its expiry moved (a new contact, source, socket or keepalive target),
  // so it is written at once; a refresh that only moves the expiry may be
  // coalesced with the next ones (about once a second).
  virtual void Put(const Binding& binding, bool urgent) = 0;
  // Only `binding`'s expiry, CSeq and Call-ID moved since it was last Put
  // (a phone's plain refresh): coalesced like a Put that is not urgent,
  // and written without the rest of it.
  virtual void Refresh(const Binding& binding) = 0;
  // This node's binding is gone (unregistered, expired or found dead):
  // as it was last.
  virtual void Remove(const Binding& binding) = 0;
};

}  // namespace rtplatch

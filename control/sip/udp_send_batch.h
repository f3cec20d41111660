// UDP datagrams collected while the event loop handles one round of input,
// sent with one sendmmsg(2) per socket when the round ends.
//
// Why: on a busy registrar every request gets a datagram back. One
// sendto() per reply is a syscall and, on loopback or a virtio NIC, often
// a wake-up (an IPI) of the receiving process per datagram; a batch pays
// the syscall once and wakes the receiver once. Order is kept: datagrams
// leave in the order they were added. A datagram the kernel refuses (no
// route, buffer full) is counted in the return of Flush(), not retried:
// UDP SIP recovers by retransmission, as for any loss on the wire.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace rtplatch {

class UdpSendBatch {
 public:
  // Datagrams per batch; Add() returns false when this many wait.
  static constexpr size_t kMaxDatagrams = 64;

  // Queues a copy of `bytes` for `fd` to `dest`. False (nothing queued)
  // when the batch is full: Flush() first.
  bool Add(int fd, const sockaddr_storage& dest, socklen_t dest_len, absl::string_view bytes);

  // Sends everything queued, one sendmmsg per run of datagrams on the same
  // socket, and empties the batch. Returns how many datagrams the kernel
  // refused.
  size_t Flush();

  size_t size() const { return queued_.size(); }
  bool empty() const { return queued_.empty(); }

 private:
  struct Queued {
    int fd;
    sockaddr_storage dest;
    socklen_t dest_len;
    size_t offset;  // into bytes_ (which may move while adding)
    size_t size;
  };
  std::vector<Queued> queued_;
  std::string bytes_;
};

}  // namespace rtplatch

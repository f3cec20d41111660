#include "control/sip/udp_send_batch.h"

#include <errno.h>
#include <sys/uio.h>

namespace rtplatch {

bool UdpSendBatch::Add(int fd, const sockaddr_storage& dest, socklen_t dest_len,
                       absl::string_view bytes) {
  if (queued_.size() >= kMaxDatagrams) return false;
  if (queued_.empty()) {
    queued_.reserve(kMaxDatagrams);
    bytes_.clear();
  }
  queued_.push_back(Queued{fd, dest, dest_len, bytes_.size(), bytes.size()});
  bytes_.append(bytes.data(), bytes.size());
  return true;
}

size_t UdpSendBatch::Flush() {
  size_t refused = 0;
  iovec iov[kMaxDatagrams];
  mmsghdr msgs[kMaxDatagrams];
  size_t first = 0;
  while (first < queued_.size()) {
    const int fd = queued_[first].fd;
    size_t n = 0;
    while (first + n < queued_.size() && queued_[first + n].fd == fd) {
      Queued& q = queued_[first + n];
      iov[n].iov_base = bytes_.data() + q.offset;
      iov[n].iov_len = q.size;
      msgs[n] = mmsghdr{};
      msgs[n].msg_hdr.msg_name = &q.dest;
      msgs[n].msg_hdr.msg_namelen = q.dest_len;
      msgs[n].msg_hdr.msg_iov = &iov[n];
      msgs[n].msg_hdr.msg_iovlen = 1;
      ++n;
    }
    // sendmmsg stops at the first datagram it cannot send and reports it on
    // the next call: count that one and go on with the rest.
    size_t sent = 0;
    while (sent < n) {
      const int r = ::sendmmsg(fd, msgs + sent, static_cast<unsigned>(n - sent), 0);
      if (r < 0) {
        if (errno == EINTR) continue;
        ++refused;
        ++sent;
        continue;
      }
      sent += static_cast<size_t>(r);
    }
    first += n;
  }
  queued_.clear();
  return refused;
}

}  // namespace rtplatch

#include "control/ng/ng_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/socket_address.h"

namespace rtplatch {

absl::StatusOr<std::unique_ptr<NgServer>> NgServer::Create(const std::vector<Endpoint>& listen,
                                                           Handler handler) {
  std::unique_ptr<NgServer> server(new NgServer(std::move(handler)));
  server->buffer_.resize(kMaxNgDatagram + 1);
  for (const Endpoint& ep : listen) {
    const int fd = ::socket(ep.ip.is_v4() ? AF_INET : AF_INET6,
                            SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return absl::InternalError(absl::StrCat("ng socket: ", std::strerror(errno)));
    server->fds_.push_back(fd);  // closed by the destructor from here on
    if (!ep.ip.is_v4()) {
      const int one = 1;
      (void)::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    sockaddr_storage ss;
    const socklen_t len = ToSockaddr(ep, &ss);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("ng: bind ", ep.ToString(), ": ", std::strerror(errno)));
    }
    sockaddr_storage bound;
    socklen_t bound_len = sizeof(bound);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len);
    server->local_.push_back(FromSockaddr(bound));
  }
  return server;
}

NgServer::~NgServer() {
  for (int fd : fds_) ::close(fd);
}

size_t NgServer::Poll(int64_t now_ms) {
  size_t n = 0;
  for (int fd : fds_) {
    // A bounded batch per socket, so one busy client cannot hold the loop.
    for (int i = 0; i < 256; ++i) {
      sockaddr_storage from;
      socklen_t from_len = sizeof(from);
      const ssize_t got = ::recvfrom(fd, buffer_.data(), buffer_.size(), 0,
                                     reinterpret_cast<sockaddr*>(&from), &from_len);
      if (got < 0) break;  // EAGAIN, or an error the next round sees again
      ++n;
      Handle(fd, buffer_.data(), static_cast<size_t>(got), FromSockaddr(from), now_ms);
    }
  }
  return n;
}

void NgServer::Handle(int fd, const char* data, size_t size, const Endpoint& from,
                      int64_t now_ms) {
  ++counters_.datagrams;
  std::string cookie;
  absl::StatusOr<NgRequest> request = ParseNgRequest(absl::string_view(data, size), &cookie);
  if (cookie.empty()) {
    ++counters_.dropped;
    return;
  }
  std::string reply;
  switch (cache_.Begin(from, cookie, now_ms, &reply)) {
    case NgReplyCache::Lookup::kAnswered:
      Send(fd, reply, from);
      return;
    case NgReplyCache::Lookup::kInProgress:
      return;
    case NgReplyCache::Lookup::kNew:
      break;
  }
  if (!request.ok()) {
    ++counters_.error_replies;
    reply = FormatNgReply(cookie, NgErrorReply(request.status().message()), NgEncoding::kBencode);
  } else {
    BencodeValue answer = handler_(*request, from);
    const BencodeValue* result = answer.Find("result");
    if (result != nullptr && result->is_string() && result->string() == "error") {
      ++counters_.error_replies;
    }
    reply = FormatNgReply(cookie, answer, request->encoding);
  }
  cache_.Finish(from, cookie, reply, now_ms);
  Send(fd, reply, from);
}

void NgServer::Send(int fd, const std::string& bytes, const Endpoint& to) {
  sockaddr_storage ss;
  const socklen_t len = ToSockaddr(to, &ss);
  if (::sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<const sockaddr*>(&ss), len) < 0) {
    ++counters_.send_errors;
    return;
  }
  ++counters_.replies;
}

}  // namespace rtplatch

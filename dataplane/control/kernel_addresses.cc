#include "dataplane/control/kernel_addresses.h"

#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace rtplatch {
namespace {

struct AddressRequest {
  nlmsghdr header;
  ifaddrmsg message;
  char attributes[64];
};

void AppendAttribute(AddressRequest& r, uint16_t type, const void* data, size_t len) {
  auto* a = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&r) + NLMSG_ALIGN(r.header.nlmsg_len));
  a->rta_type = type;
  a->rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
  std::memcpy(RTA_DATA(a), data, len);
  r.header.nlmsg_len = NLMSG_ALIGN(r.header.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

// The kernel's answer to one request: 0, or the errno it refused with.
int ReadAck(int fd) {
  char buffer[512];
  const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
  if (n < 0) return errno;
  const auto* h = reinterpret_cast<const nlmsghdr*>(buffer);
  if (!NLMSG_OK(h, static_cast<unsigned>(n)) || h->nlmsg_type != NLMSG_ERROR) return EPROTO;
  return -static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
}

}  // namespace

absl::Status KernelAddresses::Change(const IpAddress& address, bool add) const {
  if (ifindex_ == 0) return absl::OkStatus();
  AddressRequest r{};
  r.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifaddrmsg));
  r.header.nlmsg_type = add ? RTM_NEWADDR : RTM_DELADDR;
  r.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0);
  r.message.ifa_family = address.is_v4() ? AF_INET : AF_INET6;
  r.message.ifa_prefixlen = address.is_v4() ? 32 : 128;
  r.message.ifa_flags = address.is_v4() ? 0 : IFA_F_NODAD;
  r.message.ifa_scope = RT_SCOPE_UNIVERSE;
  r.message.ifa_index = static_cast<uint32_t>(ifindex_);
  const size_t len = address.is_v4() ? 4 : 16;
  const void* bytes = address.is_v4() ? address.v4_bytes() : address.bytes();
  AppendAttribute(r, IFA_LOCAL, bytes, len);
  AppendAttribute(r, IFA_ADDRESS, bytes, len);

  const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return absl::InternalError(absl::StrCat("netlink socket: ", strerror(errno)));
  int error = 0;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd, &r, r.header.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
             sizeof kernel) < 0) {
    error = errno;
  } else {
    error = ReadAck(fd);
  }
  close(fd);
  // Already there (keepalived added it) or already gone: the state asked for.
  if (error == 0 || (add && error == EEXIST) || (!add && error == EADDRNOTAVAIL)) {
    return absl::OkStatus();
  }
  return absl::InternalError(absl::StrCat(add ? "adding " : "removing ", address.ToString(),
                                          " on interface ", ifindex_, ": ", strerror(error)));
}

}  // namespace rtplatch

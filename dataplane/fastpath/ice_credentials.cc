#include "dataplane/fastpath/ice_credentials.h"

#include <algorithm>
#include <cstring>

namespace rtplatch {
namespace {

bool IceChars(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
  });
}

}  // namespace

bool ValidIceUfrag(std::string_view ufrag) {
  return ufrag.size() >= kIceUfragMin && ufrag.size() <= kIceUfragMax && IceChars(ufrag);
}

bool ValidIcePwd(std::string_view pwd) {
  return pwd.size() >= kIcePwdMin && pwd.size() <= kIcePwdMax && IceChars(pwd);
}

IceCredentials MakeIceCredentials(std::string_view ufrag, std::string_view pwd) {
  IceCredentials c{};
  c.ufrag_len = static_cast<uint8_t>(std::min(ufrag.size(), kIceUfragMax));
  c.pwd_len = static_cast<uint8_t>(std::min(pwd.size(), kIcePwdMax));
  std::memcpy(c.ufrag, ufrag.data(), c.ufrag_len);
  std::memcpy(c.pwd, pwd.data(), c.pwd_len);
  return c;
}

}  // namespace rtplatch

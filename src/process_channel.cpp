// Frames over an AF_UNIX stream socket: the Reader (bytes plus descriptors
// received with SCM_RIGHTS) and the Writer (writev-style gathering, one
// sendmsg per descriptor).
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "process_internal.hpp"

namespace spindle::detail::process {

namespace {
constexpr std::size_t kHeader = sizeof(FrameHeader);
constexpr std::size_t kInitialBuffer = std::size_t{64} * 1024;
// Inline payloads are at most kInlineLimit bytes, except an initializer's
// call, which is always inline; anything beyond this is a corrupt stream.
constexpr std::uint64_t kMaxInline = 1ull << 30;
constexpr int kMaxFdsPerRead = 16;
constexpr int kMaxIov = 64;
}  // namespace

FrameSource::FrameSource(FrameView& f) {
  if (f.fd >= 0) {
    payload_ = Payload(std::exchange(f.fd, -1), f.header.size);
    src_.emplace(payload_);
  } else {
    src_.emplace(f.data, static_cast<std::size_t>(f.header.size));
  }
}

// ---------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------

Reader::Reader() : buf_(kInitialBuffer) {}

Reader::~Reader() {
  for (int fd : fds_) ::close(fd);
}

Reader::Fill Reader::fill(int sock) {
  if (head_ == tail_) head_ = tail_ = 0;
  // Room for the whole pending frame (an inline payload may exceed the buffer).
  std::size_t need = kHeader;
  if (tail_ - head_ >= kHeader) {
    FrameHeader h;
    std::memcpy(&h, buf_.data() + head_, kHeader);
    if ((h.flags & kInFd) == 0 && h.size <= kMaxInline) need = kHeader + h.size;
  }
  if (buf_.size() - head_ < need || tail_ == buf_.size()) {
    if (head_ > 0) {
      std::memmove(buf_.data(), buf_.data() + head_, tail_ - head_);
      tail_ -= head_;
      head_ = 0;
    }
    if (buf_.size() < need) buf_.resize(need);
    if (tail_ == buf_.size()) buf_.resize(buf_.size() * 2);
  }
  iovec iov{buf_.data() + tail_, buf_.size() - tail_};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerRead)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n >= 0) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        fds_.push_back(fd);
      }
    }
    if ((msg.msg_flags & MSG_CTRUNC) != 0)
      throw RuntimeError("ProcessPoolExecutor: descriptors lost in a message from another process");
  }
  if (n > 0) {
    tail_ += static_cast<std::size_t>(n);
    return Fill::data;
  }
  if (n == 0) return Fill::eof;
  if (errno == EAGAIN || errno == EWOULDBLOCK) return Fill::again;
  if (errno == ECONNRESET) return Fill::eof;
  throw std::system_error(errno, std::generic_category(), "recvmsg");
}

bool Reader::next(FrameView& out) {
  if (tail_ - head_ < kHeader) return false;
  FrameHeader h;
  std::memcpy(&h, buf_.data() + head_, kHeader);
  if (h.kind < kInit || h.kind > kInitFailed || (h.flags & ~kInFd) != 0) {
    throw RuntimeError("ProcessPoolExecutor: malformed message from another process");
  }
  if ((h.flags & kInFd) != 0) {
    // The descriptor was sent with the header's first bytes, so it is here.
    if (fds_.empty()) {
      throw RuntimeError(
          "ProcessPoolExecutor: a message from another process lacks its descriptor");
    }
    out.header = h;
    out.data = nullptr;
    out.fd = fds_.front();
    fds_.pop_front();
    head_ += kHeader;
    return true;
  }
  if (h.size > kMaxInline)
    throw RuntimeError("ProcessPoolExecutor: malformed message from another process");
  if (tail_ - head_ - kHeader < h.size) return false;
  out.header = h;
  out.data = buf_.data() + head_ + kHeader;
  out.fd = -1;
  head_ += kHeader + static_cast<std::size_t>(h.size);
  return true;
}

// ---------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------

namespace {
// Payloads up to this size are copied into the open segment; a segment
// stops taking frames at kSegmentMax bytes.
constexpr std::size_t kCoalesce = 4096;
constexpr std::size_t kSegmentMax = std::size_t{64} * 1024;
}  // namespace

void Writer::push(std::uint32_t kind, std::uint64_t aux, Payload payload) {
  const FrameHeader h{kind, payload.in_fd() ? kInFd : 0u, payload.size(), aux};
  const char* hp = reinterpret_cast<const char*>(&h);
  if (!payload.in_fd() && payload.bytes().size() <= kCoalesce) {
    if (q_.empty() || !q_.back().open || q_.back().bytes.size() >= kSegmentMax) {
      Segment& seg = q_.emplace_back();
      seg.open = true;
    }
    Segment& seg = q_.back();
    seg.bytes.append(hp, kHeader);
    seg.bytes.append(payload.bytes());
    bytes_ += kHeader + payload.bytes().size();
    return;
  }
  Segment& seg = q_.emplace_back();
  seg.bytes.assign(hp, kHeader);
  seg.big = std::move(payload);
  bytes_ += seg.total();
}

int Writer::flush(int sock) {
  while (!q_.empty()) {
    iovec iov[kMaxIov];
    int niov = 0;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr msg{};
    Segment& first = q_.front();
    const auto add = [&](Segment& g) {
      if (g.done < g.bytes.size())
        iov[niov++] = iovec{g.bytes.data() + g.done, g.bytes.size() - g.done};
      if (!g.big.in_fd()) {
        const std::string& b = g.big.bytes();
        const std::size_t off = g.done > g.bytes.size() ? g.done - g.bytes.size() : 0;
        if (off < b.size()) iov[niov++] = iovec{const_cast<char*>(b.data()) + off, b.size() - off};
      }
    };
    if (first.big.in_fd() && !first.fd_sent) {
      // A descriptor goes alone, on the first bytes of its frame's header.
      add(first);
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      const int fd = first.big.fd();
      std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    } else {
      for (Segment& g : q_) {
        if (niov + 2 > kMaxIov) break;
        if (&g != &first && g.big.in_fd()) break;  // its descriptor needs its own sendmsg
        add(g);
      }
    }
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<std::size_t>(niov);
    const ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return errno;
    }
    if (msg.msg_controllen != 0) first.fd_sent = true;
    std::size_t left = static_cast<std::size_t>(n);
    while (!q_.empty()) {
      Segment& g = q_.front();
      g.open = false;  // partly written: append no more to it
      const std::size_t total = g.total();
      const std::size_t take = std::min(left, total - g.done);
      g.done += take;
      left -= take;
      if (g.done < total) break;
      bytes_ -= total;
      q_.pop_front();
    }
  }
  return 0;
}

}  // namespace spindle::detail::process

// Seed 003 - threads in Python, from a course's notes: a target function or
// a Thread subclass, a TCP server with a thread per client, join, shared data,
// the thread object's properties, a (non-)deadlock, Semaphore, the Event
// traffic light, and a thread pool used synchronously.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "spindle/event.hpp"
#include "spindle/futures.hpp"
#include "spindle/lock.hpp"
#include "spindle/semaphore.hpp"
#include "spindle/thread.hpp"
#include "tour.hpp"

using namespace std::chrono_literals;
using tour::note;
using tour::print;

namespace {
void worker(const std::string& name) {
  print(name, " is running");
}

// class MyThread(Thread): def run(self): print(f"{self.worker_name} is running")
class MyThread : public spindle::Thread {
 public:
  explicit MyThread(std::string name) : worker_name_(std::move(name)) {}
  ~MyThread() override { join(); }  // run() uses members: never destroy before it ends

 protected:
  void run() override { print(worker_name_, " is running"); }

 private:
  std::string worker_name_;
};
}  // namespace

TOUR_SECTION(create_two_ways, 3,
             "Creating threads: a target function, or a subclass overriding run()") {
  // t = Thread(target=worker, args=('Alice',)); t.start(); print("Main thread")
  spindle::Thread t(worker, std::string("Alice"));
  t.start();
  print("Main thread");
  t.join();
  // t = MyThread('Bob'); t.start()
  MyThread b("Bob");
  b.start();
  b.join();
  note("both ways run the code in a new thread; which line prints first is up to the scheduler");
  tour::check(!t.is_alive() && !b.is_alive(), "both threads ran to the end");
}

// --- TCP server with a thread per client ---------------------------------------

namespace {
// A socket that closes itself: the Python socket object.
struct Socket {
  int fd = -1;
  explicit Socket(int f = -1) : fd(f) {}
  Socket(Socket&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  Socket& operator=(Socket&& o) noexcept {
    std::swap(fd, o.fd);
    return *this;
  }
  ~Socket() {
    if (fd >= 0) ::close(fd);
  }
  void set_timeout(std::chrono::milliseconds t) const {
    timeval tv{static_cast<time_t>(t.count() / 1000),
               static_cast<suseconds_t>(t.count() % 1000 * 1000)};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  bool send_all(const std::string& data) const {
    std::size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<std::size_t>(n);
    }
    return true;
  }
  std::string recv(std::size_t max = 1024) const {  // "" when the peer closed (or on error)
    std::string buf(max, '\0');
    ssize_t n = ::recv(fd, buf.data(), max, 0);
    buf.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return buf;
  }
};

const std::string kResponse = "Server response";
}  // namespace

TOUR_SECTION(tcp_server, 3,
             "TCP server with a thread per client, and client threads, over loopback") {
  // s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(5) - port 0: the OS picks a free port
  Socket s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (s.fd < 0 || ::bind(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(s.fd, 5) != 0 ||
      ::getsockname(s.fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    tour::check(false, "could listen on 127.0.0.1");
    return;
  }
  const int port = ntohs(addr.sin_port);
  print("server listening on 127.0.0.1:", port);

  constexpr int kClients = 5, kMessages = 3;
  std::atomic<int> served_messages{0};
  // def handle_client(client_sock): while True: data = recv(1024); print(data); send('Server
  // response')
  auto handle_client = [&](Socket client_sock) {
    client_sock.set_timeout(5s);  // a guard: a client that vanishes cannot hang the server
    while (true) {
      std::string data = client_sock.recv(1024);
      if (data.empty()) break;  // the client closed its end (the seed's loop never ends)
      print("server [", spindle::current_thread().name(), "] got: ", data);
      if (!client_sock.send_all(kResponse)) break;
      served_messages.fetch_add(1);
    }
  };

  // while True: client, addr = s.accept(); Thread(target=handle_client, args=(client,)).start()
  // Here the loop is bounded: it accepts the clients the tour starts, then stops.
  std::vector<std::unique_ptr<spindle::Thread>> handlers;
  spindle::Thread acceptor({.name = "acceptor"}, [&] {
    for (int accepted = 0; accepted < kClients;) {
      pollfd p{s.fd, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) break;  // nobody came within 5 s: give up rather than hang
      Socket client(::accept4(s.fd, nullptr, nullptr, SOCK_CLOEXEC));
      if (client.fd < 0) continue;
      ++accepted;
      handlers.push_back(std::make_unique<spindle::Thread>(
          spindle::ThreadOptions{.name = "handler-" + std::to_string(accepted)}, handle_client,
          std::move(client)));
      handlers.back()->start();
    }
  });
  acceptor.start();

  // The client: connect, send a message, read the reply; in a thread each.
  std::atomic<int> answered{0};
  auto client_main = [&](int id) {
    Socket client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    client.set_timeout(5s);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::connect(client.fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) return;
    for (int m = 1; m <= kMessages; ++m) {
      // msg = input('>>> ') - the tour's clients type for themselves
      if (!client.send_all("hello " + std::to_string(m) + " from client " + std::to_string(id)))
        return;
      std::string response;
      while (response.size() < kResponse.size()) {
        std::string part = client.recv(kResponse.size() - response.size());
        if (part.empty()) return;
        response += part;
      }
      if (response == kResponse) answered.fetch_add(1);
    }
    print("client ", id, ": ", kMessages, " replies '", kResponse, "'");
  };
  std::vector<std::unique_ptr<spindle::Thread>> clients;
  for (int i = 1; i <= kClients; ++i) {
    clients.push_back(std::make_unique<spindle::Thread>(
        spindle::ThreadOptions{.name = "client-" + std::to_string(i)}, client_main, i));
    clients.back()->start();
  }
  for (auto& c : clients) c->join();
  acceptor.join();
  for (auto& h : handlers) h->join();
  note(kClients, " clients x ", kMessages, " messages: the server answered ",
       served_messages.load(), ", each client in its own handler thread");
  tour::check(
      answered.load() == kClients * kMessages && served_messages.load() == kClients * kMessages,
      "the TCP server answered every message of every client");
}

TOUR_SECTION(join_and_shared_data, 3, "join(), and data shared between threads") {
  // def worker(name): time.sleep(2); print(f"{name} is running")
  spindle::Thread t([] {
    tour::sleep(2);
    print("Dave is running");
  });
  t.start();
  t.join();  // main thread waits here
  print("Main thread continues");

  // username = 'Eve'; the thread changes the global; main sees the change
  std::string username = "Eve";
  spindle::Thread w([&] {
    username = "Eve_modified";
    print(username, " (thread)");
  });
  w.start();
  w.join();
  print(username, " (main thread)");
  note("threads share the process's memory: join() also makes the thread's writes visible to main");
  tour::check(username == "Eve_modified", "main sees the thread's change after join()");
}

TOUR_SECTION(thread_object, 3, "Thread object: same process, active_count, name, is_alive") {
  // 1. Same process check: os.getpid() in both
  int child_pid = 0;
  spindle::Thread t([&] {
    child_pid = ::getpid();
    print("Child thread PID: ", child_pid, "  (native thread id ", spindle::get_native_id(), ")");
  });
  t.start();
  t.join();
  print("Main thread PID: ", ::getpid(), "  (native thread id ", spindle::get_native_id(), ")");
  tour::check(child_pid == ::getpid(), "a thread runs in the same process");

  // 2. active_count() includes the main thread
  std::size_t before = spindle::active_count();
  spindle::Event finish;
  spindle::Thread frank([&] {
    finish.wait();
    print("Frank is running");
  });
  frank.start();
  std::size_t during = spindle::active_count();
  print(during);
  print("Main thread");
  finish.set();
  frank.join();
  note("active_count() went from ", before, " to ", during, " while Frank's thread was alive");
  tour::check(during == before + 1, "active_count() counted the new thread");

  // 3. Thread name: current_thread().name in a thread and in main
  spindle::Thread named([] {
    tour::sleep(1);
    print(spindle::current_thread().name());
  });
  named.start();
  print("Main thread ", spindle::current_thread().name());
  named.join();
  tour::check(
      named.name().rfind("Thread-", 0) == 0 && spindle::current_thread().name() == "MainThread",
      "default names are Thread-N, and the main thread is MainThread");

  // 4. Is the thread alive? (Grace also waits for main's go-ahead, so that
  // she is surely still running when main asks, however slow the machine.)
  spindle::Event grace_may_end;
  spindle::Thread grace([&grace_may_end] {
    print("Grace is running");
    tour::sleep(2);
    grace_may_end.wait();
    print("Grace is over");
  });
  grace.start();
  bool alive = grace.is_alive();
  print(std::boolalpha, alive);
  print("Main thread");
  grace_may_end.set();
  grace.join();
  tour::check(alive && !grace.is_alive(), "is_alive() was true while it ran and false after");
}

namespace {
spindle::Lock lock_a, lock_b;
// class DeadlockThread(Thread): takes lock A, then lock B, then releases both.
class DeadlockThread : public spindle::Thread {
 public:
  ~DeadlockThread() override { join(); }

 protected:
  void run() override {
    acquire_locks();
    release_locks();
  }

 private:
  void acquire_locks() {
    lock_a.acquire();
    print(name(), " acquired Lock A");
    tour::sleep(0.1);
    lock_b.acquire();
    print(name(), " acquired Lock B");
  }
  void release_locks() {
    lock_b.release();
    lock_a.release();
  }
};
}  // namespace

TOUR_SECTION(same_order_no_deadlock, 3,
             "The seed's 'Deadlock' class: both threads take A then B, so it finishes") {
  std::vector<std::unique_ptr<DeadlockThread>> ts;
  for (int i = 0; i < 2; ++i) {
    ts.push_back(std::make_unique<DeadlockThread>());
    ts.back()->start();
  }
  bool all_done = true;
  for (auto& t : ts) {
    t->join(10s);  // a guard only
    all_done = all_done && !t->is_alive();
  }
  note(
      "both threads take the locks in the same order (A, then B), so this example never "
      "deadlocks;");
  note("see deadlock-two-locks and dining-philosophers for the orders that do, caught by timeouts");
  tour::check(all_done, "both threads got both locks and finished");
}

TOUR_SECTION(semaphore_tasks, 3, "Semaphore(3): ten tasks, at most three working at a time") {
  spindle::Semaphore sem(3);
  std::atomic<int> working{0}, peak{0}, finished{0};
  auto task = [&](const std::string& name) {
    std::scoped_lock guard(sem);  // with sem:
    int now = working.fetch_add(1) + 1;
    for (int p = peak.load(); now > p && !peak.compare_exchange_weak(p, now);) {
    }
    print(name, " is working");
    thread_local std::mt19937 rng(std::random_device{}());
    tour::sleep(std::uniform_int_distribution<int>(1, 2)(rng));
    print(name, " finished");
    working.fetch_sub(1);
    finished.fetch_add(1);
  };
  std::vector<std::unique_ptr<spindle::Thread>> ts;
  for (int i = 0; i < 10; ++i) {
    ts.push_back(std::make_unique<spindle::Thread>(task, "Task-" + std::to_string(i)));
    ts.back()->start();
  }
  for (auto& t : ts) t->join();
  note("at most ", peak.load(), " tasks held the semaphore at once");
  tour::check(peak.load() <= 3 && finished.load() == 10,
              "never more than 3 at once, and all 10 finished");
}

TOUR_SECTION(traffic_light, 3, "Event as a traffic light: five cars wait for green") {
  spindle::Event traffic_light;
  std::atomic<int> drove_on_red{0}, drove{0};
  auto light = [&] {
    print("Red light!");
    tour::sleep(2);
    print("Green light!");
    traffic_light.set();  // wake waiting threads
  };
  auto car = [&](const std::string& name) {
    print(name, " waiting for green...");
    traffic_light.wait();  // block until the event is set
    if (!traffic_light.is_set()) drove_on_red.fetch_add(1);
    print(name, " drives!");
    drove.fetch_add(1);
  };
  spindle::Thread t_light(light);
  t_light.start();
  std::vector<std::unique_ptr<spindle::Thread>> cars;
  for (int i = 0; i < 5; ++i) {
    cars.push_back(std::make_unique<spindle::Thread>(car, "Car-" + std::to_string(i)));
    cars.back()->start();
  }
  t_light.join();
  for (auto& c : cars) c->join();
  note("the cars blocked in wait() until the light's set() released all five at once");
  tour::check(drove.load() == 5 && drove_on_red.load() == 0, "all five cars drove, none on red");
}

TOUR_SECTION(pool_submit_result, 3, "Thread pool: submit() then result() - one task at a time") {
  spindle::ThreadPoolExecutor pool(3);  // pool = ThreadPoolExecutor(max_workers=3)
  auto task = [](int x) {
    tour::sleep(1);
    print("Task ", x, " (Thread: ", spindle::current_thread().name(), ")");
    return x * 2;
  };
  std::vector<int> results;
  tour::Stopwatch watch;
  for (int i = 0; i < 5; ++i) {
    auto future = pool.submit(task, i);
    results.push_back(future.result());  // wait for the result (synchronous)
    print(results.back());
  }
  note("result() right after submit() waits each time, so the 5 tasks ran one after another (",
       watch.seconds(), " s); submit all first, then collect, to run them 3 at a time");
  note(
      "the seed's ProcessPoolExecutor is spindle::ProcessPoolExecutor: the same "
      "submit()/result(), each task in another process (section process-pool)");
  tour::check(results == std::vector<int>({0, 2, 4, 6, 8}), "results were 0, 2, 4, 6, 8");
}

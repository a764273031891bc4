// The CPU kernels' threads: run_tasks(n_tasks, fn) runs fn(task) for every task on torch's number of threads
// (at::get_num_threads(); the calling thread is one of them), each thread taking the next task when it
// finishes one. Not OpenMP: libgomp's idle threads spin for a long time before they sleep, which on a
// machine shared with other processes makes a training step with two threads up to 40x slower than one
// (measured: 900 vs 7,000 Yin-Yang samples/s at a load of 5 on 2 cores). These threads wait for the next
// call yielding the core for 250 us (a training step's gap between two kernel calls on a quiet machine),
// then sleep. For the same reason the trainer keeps torch's own operators (Adam) off OpenMP's threads.
#pragma once

#include <ATen/Parallel.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace snn {
namespace cpu {

class WorkerPool {
 public:
  // The process's pool (created at first use, never destroyed: its threads are detached and sleep at exit).
  static WorkerPool& get() {
    static WorkerPool* pool = [] {
      pthread_atfork(nullptr, nullptr, [] { get().forget_threads(); });  // a forked child has none of them
      return new WorkerPool();
    }();
    return *pool;
  }

  template <typename Fn>
  void run_tasks(int64_t n_tasks, const Fn& fn) {
    const int64_t threads = std::min<int64_t>(at::get_num_threads(), n_tasks);
    std::atomic<int64_t> next{0};
    std::function<void()> drain = [&] {
      for (int64_t task = next++; task < n_tasks; task = next++) fn(task);
    };
    // One caller at a time; a nested or concurrent call (another Python thread, a parallel region) runs on
    // its own thread instead of waiting.
    std::unique_lock<std::mutex> caller(run_mutex_, std::try_to_lock);
    if (threads <= 1 || !caller.owns_lock() || at::in_parallel_region()) {
      drain();
      return;
    }
    open(threads - 1, &drain);
    std::exception_ptr error;
    try {
      drain();
    } catch (...) {
      error = std::current_exception();
      next = n_tasks;  // the helpers stop after their current task
    }
    {
      // Helpers that have not joined by now (asleep when the call began) stay out: the caller does not
      // wait for them to wake up only to find no task left.
      std::lock_guard<std::mutex> lock(mutex_);
      open_ = false;
    }
    wait_until([&] { return active_.load(std::memory_order_acquire) == 0; });
    if (!error) error = helper_error_;
    helper_error_ = nullptr;
    if (error) std::rethrow_exception(error);
  }

 private:
  std::mutex run_mutex_, mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int64_t> active_{0};  // helpers inside the current call's job
  int64_t started_ = 0, wanted_ = 0;  // threads created; helpers the current call may use
  bool open_ = false;                // whether helpers may still join the current call
  std::function<void()>* job_ = nullptr;
  std::exception_ptr helper_error_;

  void open(int64_t helpers, std::function<void()>* job) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (; started_ < helpers; ++started_) std::thread([this, id = started_] { serve(id); }).detach();
      job_ = job;
      wanted_ = helpers;
      open_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
  }

  void forget_threads() {
    new (&mutex_) std::mutex();
    new (&run_mutex_) std::mutex();
    new (&wake_) std::condition_variable();
    started_ = 0;
    active_ = 0;
    open_ = false;
  }

  // Yields for about 250 us, then sleeps until notified (checking `ready` under mutex_ against lost wake-ups).
  template <typename Ready>
  void wait_until(const Ready& ready) {
    const auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(250);
    while (!ready()) {
      if (std::chrono::steady_clock::now() > spin_until) {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, ready);
        return;
      }
      std::this_thread::yield();
    }
  }

  void serve(int64_t id) {
    uint64_t seen = 0;
    while (true) {
      wait_until([&] { return generation_.load(std::memory_order_acquire) != seen; });
      std::function<void()>* job = nullptr;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        seen = generation_.load(std::memory_order_relaxed);
        if (!open_ || id >= wanted_) continue;
        active_.fetch_add(1, std::memory_order_relaxed);
        job = job_;
      }
      try {
        (*job)();
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!helper_error_) helper_error_ = std::current_exception();
      }
      if (active_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mutex_);  // the caller may be about to sleep: notify under the lock
        wake_.notify_all();
      }
    }
  }
};

// fn(task) for every task in [0, n_tasks), on torch's number of threads.
template <typename Fn>
void run_tasks(int64_t n_tasks, const Fn& fn) {
  WorkerPool::get().run_tasks(n_tasks, fn);
}

}  // namespace cpu
}  // namespace snn

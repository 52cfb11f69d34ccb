/**
 * libvips keeps one error buffer for the whole process, not one per thread: when a decode fails while
 * others run, another thread can clear or overwrite the message before sharp reads it, and the failure
 * is reported as "Unknown error" or with someone else's reason. Decodes therefore run side by side
 * (shared), and a failed one is decoded again alone (exclusive) to learn its own reason. Failures are
 * rare, so the exclusive re-run costs nothing on good data.
 */
export class SharedExclusiveGate {
  private shared = 0;
  private exclusive = false;
  private exclusiveWaiting = 0;
  private wakers: (() => void)[] = [];

  async runShared<T>(task: () => Promise<T>): Promise<T> {
    // Waiting exclusive runs go first, so a stream of decodes cannot starve an error report.
    while (this.exclusive || this.exclusiveWaiting > 0) await this.wait();
    this.shared++;
    try {
      return await task();
    } finally {
      this.shared--;
      this.wake();
    }
  }

  async runExclusive<T>(task: () => Promise<T>): Promise<T> {
    this.exclusiveWaiting++;
    try {
      while (this.exclusive || this.shared > 0) await this.wait();
    } finally {
      this.exclusiveWaiting--;
    }
    this.exclusive = true;
    try {
      return await task();
    } finally {
      this.exclusive = false;
      this.wake();
    }
  }

  private wait(): Promise<void> {
    return new Promise((resolve) => this.wakers.push(resolve));
  }

  private wake(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const w of wakers) w();
  }
}

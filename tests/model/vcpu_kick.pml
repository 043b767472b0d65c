/*
 * Promela model of kvmrun's vCPU kick protocol (src/vcpu_run.c, src/vm.c;
 * docs/vcpu-kicks.md). spin checks, over every interleaving:
 *   - no lost request: every posted request is handled by the vCPU
 *     (a lost kick leaves a kicker blocked forever: an invalid end state);
 *   - no request is handled that was not posted, and each exactly once;
 *   - the pause completes and the vCPU resumes (no deadlock).
 *
 * The guest is the worst case: it never exits by itself (a CPL3 spin loop),
 * so only a kick can get the vCPU out of KVM_RUN.
 *
 * Build variants:
 *   default              the protocol as implemented: immediate_exit set by
 *                        the kick signal's handler
 *   -DNO_IMMEDIATE_EXIT  the handler does nothing: spin must find the run
 *                        where the signal is handled between the last request
 *                        check [V2] and KVM_RUN [V3], and the kick is lost
 *
 * The atomics in the C code are sequentially consistent, which is the
 * memory model spin explores.
 */

#define OUTSIDE_GUEST 0
#define IN_GUEST      1
#define EXITING       2

#define REQ_PAUSE 1   /* VCPU_REQUEST_PAUSE, posted by the pauser */
#define REQ_HOOK  2   /* a hook request, posted by the kicker */

byte mode = OUTSIDE_GUEST;   /* vcpu->mode */
byte requests = 0;           /* vcpu->requests */
bool immediate_exit = 0;     /* kvm_run->immediate_exit */
bool signal_sent = 0;        /* a kick signal is on its way to the vCPU thread */
bool in_guest = 0;           /* the thread is executing guest code in KVM_RUN */
bool interrupted = 0;        /* a signal arrived while in guest: KVM_RUN returns -EINTR */

/* vm.c pause state (pause_lock held around each atomic block) */
bool paused = 0;
byte nr_parked = 0;

/* bookkeeping for the properties */
byte handled_hook = 0;
byte handled_pause = 0;

inline kick(bits) {
	/* [K1] atomic_fetch_or(&vcpu->requests, requests) */
	requests = requests | bits;
	/* [K2] CAS IN_GUEST -> EXITING; the winner signals (pthread_kill) */
	if
	:: atomic { mode == IN_GUEST -> mode = EXITING } ; signal_sent = 1
	:: else -> skip
	fi
}

/* Signal delivery to the vCPU thread, at any moment after it was sent.
 * Inside the guest it makes KVM_RUN return -EINTR; in user space the handler
 * runs (kick_handler) and stores immediate_exit. A signal pending when the
 * thread enters KVM_RUN is seen by KVM_RUN's signal check [V3]. */
active proctype signal_delivery()
{
end_idle:
	do
	:: atomic {
		signal_sent ->
		signal_sent = 0;
		if
		:: in_guest -> interrupted = 1
		:: else -> skip
		fi;
#ifndef NO_IMMEDIATE_EXIT
		immediate_exit = 1
#endif
	   }
	od
}

active proctype vcpu()
{
	byte req;
loop:
	/* [V1] atomic_store(&vcpu->mode, VCPU_MODE_IN_GUEST) */
	mode = IN_GUEST;
	/* [V2] requests = atomic_load(&vcpu->requests) */
	req = requests;
	if
	:: req != 0 ->
		mode = OUTSIDE_GUEST;
		/* handle_requests(): clear what we act on, then act */
		atomic { requests = requests & ~req };
		if
		:: req & REQ_HOOK -> handled_hook++
		:: else -> skip
		fi;
		if
		:: req & REQ_PAUSE ->
			handled_pause++;
			/* vm_park_vcpu() */
			atomic {
				if
				:: paused -> nr_parked++
				:: else -> skip
				fi
			};
			(!paused);
			atomic { if :: nr_parked > 0 -> nr_parked-- :: else -> skip fi }
		:: else -> skip
		fi;
		goto loop
	:: else -> skip
	fi;
	/* [V3] ioctl(KVM_RUN): returns -EINTR at once if immediate_exit is set
	 * or a signal is pending; otherwise runs the guest until a signal. */
	atomic {
		if
		:: immediate_exit || signal_sent -> skip
		:: else -> in_guest = 1
		fi
	}
end_in_guest:
	atomic { !in_guest || interrupted -> in_guest = 0; interrupted = 0 }
	/* [V4] mode back to OUTSIDE_GUEST, then re-arm immediate_exit */
	mode = OUTSIDE_GUEST;
	immediate_exit = 0;
	goto loop
}

/* A kicker posting a hook request and waiting until it is handled (the
 * stress test's kicker threads). */
active proctype kicker()
{
	kick(REQ_HOOK);
	(handled_hook == 1);
	assert(handled_hook == 1)
}

/* vm_pause() then vm_resume() from another thread. */
active proctype pauser()
{
	atomic { paused = 1 };
	kick(REQ_PAUSE);
	/* wait for every running vCPU to park (nr_running is 1 here) */
	(nr_parked == 1);
	assert(handled_pause == 1);
	atomic { paused = 0 };
	(nr_parked == 0)
}

/* Nothing is handled that was not posted, nothing twice. */
active proctype invariants()
{
end_watch:
	do
	:: atomic { (handled_hook > 1 || handled_pause > 1) -> assert(false) }
	od
}

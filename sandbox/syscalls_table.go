// Code generated from github.com/elastic/go-seccomp-bpf/arch v1.6.0 (Linux v6.15); DO NOT EDIT.
// TestSyscallTables checks these tables against that package's.

package sandbox

// syscallsX86_64 lists the syscalls of x86_64, "name number" a line.
const syscallsX86_64 = "" +
	"read 0\nwrite 1\nopen 2\nclose 3\nstat 4\nfstat 5\nlstat 6\npoll 7\nlseek 8\nmmap 9\nmprotect 10\n" +
	"munmap 11\nbrk 12\nrt_sigaction 13\nrt_sigprocmask 14\nrt_sigreturn 15\nioctl 16\npread64 17\n" +
	"pwrite64 18\nreadv 19\nwritev 20\naccess 21\npipe 22\nselect 23\nsched_yield 24\nmremap 25\n" +
	"msync 26\nmincore 27\nmadvise 28\nshmget 29\nshmat 30\nshmctl 31\ndup 32\ndup2 33\npause 34\n" +
	"nanosleep 35\ngetitimer 36\nalarm 37\nsetitimer 38\ngetpid 39\nsendfile 40\nsocket 41\n" +
	"connect 42\naccept 43\nsendto 44\nrecvfrom 45\nsendmsg 46\nrecvmsg 47\nshutdown 48\nbind 49\n" +
	"listen 50\ngetsockname 51\ngetpeername 52\nsocketpair 53\nsetsockopt 54\ngetsockopt 55\n" +
	"clone 56\nfork 57\nvfork 58\nexecve 59\nexit 60\nwait4 61\nkill 62\nuname 63\nsemget 64\nsemop 65\n" +
	"semctl 66\nshmdt 67\nmsgget 68\nmsgsnd 69\nmsgrcv 70\nmsgctl 71\nfcntl 72\nflock 73\nfsync 74\n" +
	"fdatasync 75\ntruncate 76\nftruncate 77\ngetdents 78\ngetcwd 79\nchdir 80\nfchdir 81\nrename 82\n" +
	"mkdir 83\nrmdir 84\ncreat 85\nlink 86\nunlink 87\nsymlink 88\nreadlink 89\nchmod 90\nfchmod 91\n" +
	"chown 92\nfchown 93\nlchown 94\numask 95\ngettimeofday 96\ngetrlimit 97\ngetrusage 98\n" +
	"sysinfo 99\ntimes 100\nptrace 101\ngetuid 102\nsyslog 103\ngetgid 104\nsetuid 105\nsetgid 106\n" +
	"geteuid 107\ngetegid 108\nsetpgid 109\ngetppid 110\ngetpgrp 111\nsetsid 112\nsetreuid 113\n" +
	"setregid 114\ngetgroups 115\nsetgroups 116\nsetresuid 117\ngetresuid 118\nsetresgid 119\n" +
	"getresgid 120\ngetpgid 121\nsetfsuid 122\nsetfsgid 123\ngetsid 124\ncapget 125\ncapset 126\n" +
	"rt_sigpending 127\nrt_sigtimedwait 128\nrt_sigqueueinfo 129\nrt_sigsuspend 130\n" +
	"sigaltstack 131\nutime 132\nmknod 133\nuselib 134\npersonality 135\nustat 136\nstatfs 137\n" +
	"fstatfs 138\nsysfs 139\ngetpriority 140\nsetpriority 141\nsched_setparam 142\n" +
	"sched_getparam 143\nsched_setscheduler 144\nsched_getscheduler 145\n" +
	"sched_get_priority_max 146\nsched_get_priority_min 147\nsched_rr_get_interval 148\n" +
	"mlock 149\nmunlock 150\nmlockall 151\nmunlockall 152\nvhangup 153\nmodify_ldt 154\n" +
	"pivot_root 155\n_sysctl 156\nprctl 157\narch_prctl 158\nadjtimex 159\nsetrlimit 160\n" +
	"chroot 161\nsync 162\nacct 163\nsettimeofday 164\nmount 165\numount2 166\nswapon 167\n" +
	"swapoff 168\nreboot 169\nsethostname 170\nsetdomainname 171\niopl 172\nioperm 173\n" +
	"create_module 174\ninit_module 175\ndelete_module 176\nget_kernel_syms 177\nquery_module 178\n" +
	"quotactl 179\nnfsservctl 180\ngetpmsg 181\nputpmsg 182\nafs_syscall 183\ntuxcall 184\n" +
	"security 185\ngettid 186\nreadahead 187\nsetxattr 188\nlsetxattr 189\nfsetxattr 190\n" +
	"getxattr 191\nlgetxattr 192\nfgetxattr 193\nlistxattr 194\nllistxattr 195\nflistxattr 196\n" +
	"removexattr 197\nlremovexattr 198\nfremovexattr 199\ntkill 200\ntime 201\nfutex 202\n" +
	"sched_setaffinity 203\nsched_getaffinity 204\nset_thread_area 205\nio_setup 206\n" +
	"io_destroy 207\nio_getevents 208\nio_submit 209\nio_cancel 210\nget_thread_area 211\n" +
	"lookup_dcookie 212\nepoll_create 213\nepoll_ctl_old 214\nepoll_wait_old 215\n" +
	"remap_file_pages 216\ngetdents64 217\nset_tid_address 218\nrestart_syscall 219\n" +
	"semtimedop 220\nfadvise64 221\ntimer_create 222\ntimer_settime 223\ntimer_gettime 224\n" +
	"timer_getoverrun 225\ntimer_delete 226\nclock_settime 227\nclock_gettime 228\n" +
	"clock_getres 229\nclock_nanosleep 230\nexit_group 231\nepoll_wait 232\nepoll_ctl 233\n" +
	"tgkill 234\nutimes 235\nvserver 236\nmbind 237\nset_mempolicy 238\nget_mempolicy 239\n" +
	"mq_open 240\nmq_unlink 241\nmq_timedsend 242\nmq_timedreceive 243\nmq_notify 244\n" +
	"mq_getsetattr 245\nkexec_load 246\nwaitid 247\nadd_key 248\nrequest_key 249\nkeyctl 250\n" +
	"ioprio_set 251\nioprio_get 252\ninotify_init 253\ninotify_add_watch 254\n" +
	"inotify_rm_watch 255\nmigrate_pages 256\nopenat 257\nmkdirat 258\nmknodat 259\nfchownat 260\n" +
	"futimesat 261\nnewfstatat 262\nunlinkat 263\nrenameat 264\nlinkat 265\nsymlinkat 266\n" +
	"readlinkat 267\nfchmodat 268\nfaccessat 269\npselect6 270\nppoll 271\nunshare 272\n" +
	"set_robust_list 273\nget_robust_list 274\nsplice 275\ntee 276\nsync_file_range 277\n" +
	"vmsplice 278\nmove_pages 279\nutimensat 280\nepoll_pwait 281\nsignalfd 282\n" +
	"timerfd_create 283\neventfd 284\nfallocate 285\ntimerfd_settime 286\ntimerfd_gettime 287\n" +
	"accept4 288\nsignalfd4 289\neventfd2 290\nepoll_create1 291\ndup3 292\npipe2 293\n" +
	"inotify_init1 294\npreadv 295\npwritev 296\nrt_tgsigqueueinfo 297\nperf_event_open 298\n" +
	"recvmmsg 299\nfanotify_init 300\nfanotify_mark 301\nprlimit64 302\nname_to_handle_at 303\n" +
	"open_by_handle_at 304\nclock_adjtime 305\nsyncfs 306\nsendmmsg 307\nsetns 308\ngetcpu 309\n" +
	"process_vm_readv 310\nprocess_vm_writev 311\nkcmp 312\nfinit_module 313\nsched_setattr 314\n" +
	"sched_getattr 315\nrenameat2 316\nseccomp 317\ngetrandom 318\nmemfd_create 319\n" +
	"kexec_file_load 320\nbpf 321\nexecveat 322\nuserfaultfd 323\nmembarrier 324\nmlock2 325\n" +
	"copy_file_range 326\npreadv2 327\npwritev2 328\npkey_mprotect 329\npkey_alloc 330\n" +
	"pkey_free 331\nstatx 332\nio_pgetevents 333\nrseq 334\nuretprobe 335\npidfd_send_signal 424\n" +
	"io_uring_setup 425\nio_uring_enter 426\nio_uring_register 427\nopen_tree 428\nmove_mount 429\n" +
	"fsopen 430\nfsconfig 431\nfsmount 432\nfspick 433\npidfd_open 434\nclone3 435\nclose_range 436\n" +
	"openat2 437\npidfd_getfd 438\nfaccessat2 439\nprocess_madvise 440\nepoll_pwait2 441\n" +
	"mount_setattr 442\nquotactl_fd 443\nlandlock_create_ruleset 444\nlandlock_add_rule 445\n" +
	"landlock_restrict_self 446\nmemfd_secret 447\nprocess_mrelease 448\nfutex_waitv 449\n" +
	"set_mempolicy_home_node 450\ncachestat 451\nfchmodat2 452\nmap_shadow_stack 453\n" +
	"futex_wake 454\nfutex_wait 455\nfutex_requeue 456\nstatmount 457\nlistmount 458\n" +
	"lsm_get_self_attr 459\nlsm_set_self_attr 460\nlsm_list_modules 461\nmseal 462\n" +
	"setxattrat 463\ngetxattrat 464\nlistxattrat 465\nremovexattrat 466\nopen_tree_attr 467\n"

// syscallsX32 lists the syscalls of x32 (numbers without the x32 bit), "name number" a line.
const syscallsX32 = "" +
	"read 0\nwrite 1\nopen 2\nclose 3\nstat 4\nfstat 5\nlstat 6\npoll 7\nlseek 8\nmmap 9\nmprotect 10\n" +
	"munmap 11\nbrk 12\nrt_sigaction 13\nrt_sigprocmask 14\nrt_sigreturn 15\nioctl 16\npread64 17\n" +
	"pwrite64 18\nreadv 19\nwritev 20\naccess 21\npipe 22\nselect 23\nsched_yield 24\nmremap 25\n" +
	"msync 26\nmincore 27\nmadvise 28\nshmget 29\nshmat 30\nshmctl 31\ndup 32\ndup2 33\npause 34\n" +
	"nanosleep 35\ngetitimer 36\nalarm 37\nsetitimer 38\ngetpid 39\nsendfile 40\nsocket 41\n" +
	"connect 42\naccept 43\nsendto 44\nrecvfrom 45\nsendmsg 46\nrecvmsg 47\nshutdown 48\nbind 49\n" +
	"listen 50\ngetsockname 51\ngetpeername 52\nsocketpair 53\nsetsockopt 54\ngetsockopt 55\n" +
	"clone 56\nfork 57\nvfork 58\nexecve 59\nexit 60\nwait4 61\nkill 62\nuname 63\nsemget 64\nsemop 65\n" +
	"semctl 66\nshmdt 67\nmsgget 68\nmsgsnd 69\nmsgrcv 70\nmsgctl 71\nfcntl 72\nflock 73\nfsync 74\n" +
	"fdatasync 75\ntruncate 76\nftruncate 77\ngetdents 78\ngetcwd 79\nchdir 80\nfchdir 81\nrename 82\n" +
	"mkdir 83\nrmdir 84\ncreat 85\nlink 86\nunlink 87\nsymlink 88\nreadlink 89\nchmod 90\nfchmod 91\n" +
	"chown 92\nfchown 93\nlchown 94\numask 95\ngettimeofday 96\ngetrlimit 97\ngetrusage 98\n" +
	"sysinfo 99\ntimes 100\nptrace 101\ngetuid 102\nsyslog 103\ngetgid 104\nsetuid 105\nsetgid 106\n" +
	"geteuid 107\ngetegid 108\nsetpgid 109\ngetppid 110\ngetpgrp 111\nsetsid 112\nsetreuid 113\n" +
	"setregid 114\ngetgroups 115\nsetgroups 116\nsetresuid 117\ngetresuid 118\nsetresgid 119\n" +
	"getresgid 120\ngetpgid 121\nsetfsuid 122\nsetfsgid 123\ngetsid 124\ncapget 125\ncapset 126\n" +
	"rt_sigpending 127\nrt_sigtimedwait 128\nrt_sigqueueinfo 129\nrt_sigsuspend 130\n" +
	"sigaltstack 131\nutime 132\nmknod 133\nuselib 134\npersonality 135\nustat 136\nstatfs 137\n" +
	"fstatfs 138\nsysfs 139\ngetpriority 140\nsetpriority 141\nsched_setparam 142\n" +
	"sched_getparam 143\nsched_setscheduler 144\nsched_getscheduler 145\n" +
	"sched_get_priority_max 146\nsched_get_priority_min 147\nsched_rr_get_interval 148\n" +
	"mlock 149\nmunlock 150\nmlockall 151\nmunlockall 152\nvhangup 153\nmodify_ldt 154\n" +
	"pivot_root 155\n_sysctl 156\nprctl 157\narch_prctl 158\nadjtimex 159\nsetrlimit 160\n" +
	"chroot 161\nsync 162\nacct 163\nsettimeofday 164\nmount 165\numount2 166\nswapon 167\n" +
	"swapoff 168\nreboot 169\nsethostname 170\nsetdomainname 171\niopl 172\nioperm 173\n" +
	"create_module 174\ninit_module 175\ndelete_module 176\nget_kernel_syms 177\nquery_module 178\n" +
	"quotactl 179\nnfsservctl 180\ngetpmsg 181\nputpmsg 182\nafs_syscall 183\ntuxcall 184\n" +
	"security 185\ngettid 186\nreadahead 187\nsetxattr 188\nlsetxattr 189\nfsetxattr 190\n" +
	"getxattr 191\nlgetxattr 192\nfgetxattr 193\nlistxattr 194\nllistxattr 195\nflistxattr 196\n" +
	"removexattr 197\nlremovexattr 198\nfremovexattr 199\ntkill 200\ntime 201\nfutex 202\n" +
	"sched_setaffinity 203\nsched_getaffinity 204\nset_thread_area 205\nio_setup 206\n" +
	"io_destroy 207\nio_getevents 208\nio_submit 209\nio_cancel 210\nget_thread_area 211\n" +
	"lookup_dcookie 212\nepoll_create 213\nepoll_ctl_old 214\nepoll_wait_old 215\n" +
	"remap_file_pages 216\ngetdents64 217\nset_tid_address 218\nrestart_syscall 219\n" +
	"semtimedop 220\nfadvise64 221\ntimer_create 222\ntimer_settime 223\ntimer_gettime 224\n" +
	"timer_getoverrun 225\ntimer_delete 226\nclock_settime 227\nclock_gettime 228\n" +
	"clock_getres 229\nclock_nanosleep 230\nexit_group 231\nepoll_wait 232\nepoll_ctl 233\n" +
	"tgkill 234\nutimes 235\nvserver 236\nmbind 237\nset_mempolicy 238\nget_mempolicy 239\n" +
	"mq_open 240\nmq_unlink 241\nmq_timedsend 242\nmq_timedreceive 243\nmq_notify 244\n" +
	"mq_getsetattr 245\nkexec_load 246\nwaitid 247\nadd_key 248\nrequest_key 249\nkeyctl 250\n" +
	"ioprio_set 251\nioprio_get 252\ninotify_init 253\ninotify_add_watch 254\n" +
	"inotify_rm_watch 255\nmigrate_pages 256\nopenat 257\nmkdirat 258\nmknodat 259\nfchownat 260\n" +
	"futimesat 261\nnewfstatat 262\nunlinkat 263\nrenameat 264\nlinkat 265\nsymlinkat 266\n" +
	"readlinkat 267\nfchmodat 268\nfaccessat 269\npselect6 270\nppoll 271\nunshare 272\n" +
	"set_robust_list 273\nget_robust_list 274\nsplice 275\ntee 276\nsync_file_range 277\n" +
	"vmsplice 278\nmove_pages 279\nutimensat 280\nepoll_pwait 281\nsignalfd 282\n" +
	"timerfd_create 283\neventfd 284\nfallocate 285\ntimerfd_settime 286\ntimerfd_gettime 287\n" +
	"accept4 288\nsignalfd4 289\neventfd2 290\nepoll_create1 291\ndup3 292\npipe2 293\n" +
	"inotify_init1 294\npreadv 295\npwritev 296\nrt_tgsigqueueinfo 297\nperf_event_open 298\n" +
	"recvmmsg 299\nfanotify_init 300\nfanotify_mark 301\nprlimit64 302\nname_to_handle_at 303\n" +
	"open_by_handle_at 304\nclock_adjtime 305\nsyncfs 306\nsendmmsg 307\nsetns 308\ngetcpu 309\n" +
	"process_vm_readv 310\nprocess_vm_writev 311\nkcmp 312\nfinit_module 313\nsched_setattr 314\n" +
	"sched_getattr 315\nrenameat2 316\nseccomp 317\ngetrandom 318\nmemfd_create 319\n" +
	"kexec_file_load 320\nbpf 321\nexecveat 322\nuserfaultfd 323\nmembarrier 324\nmlock2 325\n" +
	"copy_file_range 326\npreadv2 327\npwritev2 328\npkey_mprotect 329\npkey_alloc 330\n" +
	"pkey_free 331\nstatx 332\nio_pgetevents 333\nrseq 334\nuretprobe 335\npidfd_send_signal 424\n" +
	"io_uring_setup 425\nio_uring_enter 426\nio_uring_register 427\nopen_tree 428\nmove_mount 429\n" +
	"fsopen 430\nfsconfig 431\nfsmount 432\nfspick 433\npidfd_open 434\nclone3 435\nclose_range 436\n" +
	"openat2 437\npidfd_getfd 438\nfaccessat2 439\nprocess_madvise 440\nepoll_pwait2 441\n" +
	"mount_setattr 442\nquotactl_fd 443\nlandlock_create_ruleset 444\nlandlock_add_rule 445\n" +
	"landlock_restrict_self 446\nmemfd_secret 447\nprocess_mrelease 448\nfutex_waitv 449\n" +
	"set_mempolicy_home_node 450\ncachestat 451\nfchmodat2 452\nmap_shadow_stack 453\n" +
	"futex_wake 454\nfutex_wait 455\nfutex_requeue 456\nstatmount 457\nlistmount 458\n" +
	"lsm_get_self_attr 459\nlsm_set_self_attr 460\nlsm_list_modules 461\nmseal 462\n" +
	"setxattrat 463\ngetxattrat 464\nlistxattrat 465\nremovexattrat 466\nopen_tree_attr 467\n" +
	"rt_sigaction 512\nrt_sigreturn 513\nioctl 514\nreadv 515\nwritev 516\nrecvfrom 517\n" +
	"sendmsg 518\nrecvmsg 519\nexecve 520\nptrace 521\nrt_sigpending 522\nrt_sigtimedwait 523\n" +
	"rt_sigqueueinfo 524\nsigaltstack 525\ntimer_create 526\nmq_notify 527\nkexec_load 528\n" +
	"waitid 529\nset_robust_list 530\nget_robust_list 531\nvmsplice 532\nmove_pages 533\n" +
	"preadv 534\npwritev 535\nrt_tgsigqueueinfo 536\nrecvmmsg 537\nsendmmsg 538\n" +
	"process_vm_readv 539\nprocess_vm_writev 540\nsetsockopt 541\ngetsockopt 542\nio_setup 543\n" +
	"io_submit 544\nexecveat 545\npreadv2 546\npwritev2 547\n"

// syscallsI386 lists the syscalls of i386, "name number" a line.
const syscallsI386 = "" +
	"restart_syscall 0\nexit 1\nfork 2\nread 3\nwrite 4\nopen 5\nclose 6\nwaitpid 7\ncreat 8\nlink 9\n" +
	"unlink 10\nexecve 11\nchdir 12\ntime 13\nmknod 14\nchmod 15\nlchown 16\nbreak 17\noldstat 18\n" +
	"lseek 19\ngetpid 20\nmount 21\numount 22\nsetuid 23\ngetuid 24\nstime 25\nptrace 26\nalarm 27\n" +
	"oldfstat 28\npause 29\nutime 30\nstty 31\ngtty 32\naccess 33\nnice 34\nftime 35\nsync 36\nkill 37\n" +
	"rename 38\nmkdir 39\nrmdir 40\ndup 41\npipe 42\ntimes 43\nprof 44\nbrk 45\nsetgid 46\ngetgid 47\n" +
	"signal 48\ngeteuid 49\ngetegid 50\nacct 51\numount2 52\nlock 53\nioctl 54\nfcntl 55\nmpx 56\n" +
	"setpgid 57\nulimit 58\noldolduname 59\numask 60\nchroot 61\nustat 62\ndup2 63\ngetppid 64\n" +
	"getpgrp 65\nsetsid 66\nsigaction 67\nsgetmask 68\nssetmask 69\nsetreuid 70\nsetregid 71\n" +
	"sigsuspend 72\nsigpending 73\nsethostname 74\nsetrlimit 75\ngetrlimit 76\ngetrusage 77\n" +
	"gettimeofday 78\nsettimeofday 79\ngetgroups 80\nsetgroups 81\nselect 82\nsymlink 83\n" +
	"oldlstat 84\nreadlink 85\nuselib 86\nswapon 87\nreboot 88\nreaddir 89\nmmap 90\nmunmap 91\n" +
	"truncate 92\nftruncate 93\nfchmod 94\nfchown 95\ngetpriority 96\nsetpriority 97\nprofil 98\n" +
	"statfs 99\nfstatfs 100\nioperm 101\nsocketcall 102\nsyslog 103\nsetitimer 104\ngetitimer 105\n" +
	"stat 106\nlstat 107\nfstat 108\nolduname 109\niopl 110\nvhangup 111\nidle 112\nvm86old 113\n" +
	"wait4 114\nswapoff 115\nsysinfo 116\nipc 117\nfsync 118\nsigreturn 119\nclone 120\n" +
	"setdomainname 121\nuname 122\nmodify_ldt 123\nadjtimex 124\nmprotect 125\nsigprocmask 126\n" +
	"create_module 127\ninit_module 128\ndelete_module 129\nget_kernel_syms 130\nquotactl 131\n" +
	"getpgid 132\nfchdir 133\nbdflush 134\nsysfs 135\npersonality 136\nafs_syscall 137\n" +
	"setfsuid 138\nsetfsgid 139\n_llseek 140\ngetdents 141\n_newselect 142\nflock 143\nmsync 144\n" +
	"readv 145\nwritev 146\ngetsid 147\nfdatasync 148\n_sysctl 149\nmlock 150\nmunlock 151\n" +
	"mlockall 152\nmunlockall 153\nsched_setparam 154\nsched_getparam 155\nsched_setscheduler 156\n" +
	"sched_getscheduler 157\nsched_yield 158\nsched_get_priority_max 159\n" +
	"sched_get_priority_min 160\nsched_rr_get_interval 161\nnanosleep 162\nmremap 163\n" +
	"setresuid 164\ngetresuid 165\nvm86 166\nquery_module 167\npoll 168\nnfsservctl 169\n" +
	"setresgid 170\ngetresgid 171\nprctl 172\nrt_sigreturn 173\nrt_sigaction 174\n" +
	"rt_sigprocmask 175\nrt_sigpending 176\nrt_sigtimedwait 177\nrt_sigqueueinfo 178\n" +
	"rt_sigsuspend 179\npread64 180\npwrite64 181\nchown 182\ngetcwd 183\ncapget 184\ncapset 185\n" +
	"sigaltstack 186\nsendfile 187\ngetpmsg 188\nputpmsg 189\nvfork 190\nugetrlimit 191\nmmap2 192\n" +
	"truncate64 193\nftruncate64 194\nstat64 195\nlstat64 196\nfstat64 197\nlchown32 198\n" +
	"getuid32 199\ngetgid32 200\ngeteuid32 201\ngetegid32 202\nsetreuid32 203\nsetregid32 204\n" +
	"getgroups32 205\nsetgroups32 206\nfchown32 207\nsetresuid32 208\ngetresuid32 209\n" +
	"setresgid32 210\ngetresgid32 211\nchown32 212\nsetuid32 213\nsetgid32 214\nsetfsuid32 215\n" +
	"setfsgid32 216\npivot_root 217\nmincore 218\nmadvise 219\ngetdents64 220\nfcntl64 221\n" +
	"gettid 224\nreadahead 225\nsetxattr 226\nlsetxattr 227\nfsetxattr 228\ngetxattr 229\n" +
	"lgetxattr 230\nfgetxattr 231\nlistxattr 232\nllistxattr 233\nflistxattr 234\nremovexattr 235\n" +
	"lremovexattr 236\nfremovexattr 237\ntkill 238\nsendfile64 239\nfutex 240\n" +
	"sched_setaffinity 241\nsched_getaffinity 242\nset_thread_area 243\nget_thread_area 244\n" +
	"io_setup 245\nio_destroy 246\nio_getevents 247\nio_submit 248\nio_cancel 249\nfadvise64 250\n" +
	"exit_group 252\nlookup_dcookie 253\nepoll_create 254\nepoll_ctl 255\nepoll_wait 256\n" +
	"remap_file_pages 257\nset_tid_address 258\ntimer_create 259\ntimer_settime 260\n" +
	"timer_gettime 261\ntimer_getoverrun 262\ntimer_delete 263\nclock_settime 264\n" +
	"clock_gettime 265\nclock_getres 266\nclock_nanosleep 267\nstatfs64 268\nfstatfs64 269\n" +
	"tgkill 270\nutimes 271\nfadvise64_64 272\nvserver 273\nmbind 274\nget_mempolicy 275\n" +
	"set_mempolicy 276\nmq_open 277\nmq_unlink 278\nmq_timedsend 279\nmq_timedreceive 280\n" +
	"mq_notify 281\nmq_getsetattr 282\nkexec_load 283\nwaitid 284\nadd_key 286\nrequest_key 287\n" +
	"keyctl 288\nioprio_set 289\nioprio_get 290\ninotify_init 291\ninotify_add_watch 292\n" +
	"inotify_rm_watch 293\nmigrate_pages 294\nopenat 295\nmkdirat 296\nmknodat 297\nfchownat 298\n" +
	"futimesat 299\nfstatat64 300\nunlinkat 301\nrenameat 302\nlinkat 303\nsymlinkat 304\n" +
	"readlinkat 305\nfchmodat 306\nfaccessat 307\npselect6 308\nppoll 309\nunshare 310\n" +
	"set_robust_list 311\nget_robust_list 312\nsplice 313\nsync_file_range 314\ntee 315\n" +
	"vmsplice 316\nmove_pages 317\ngetcpu 318\nepoll_pwait 319\nutimensat 320\nsignalfd 321\n" +
	"timerfd_create 322\neventfd 323\nfallocate 324\ntimerfd_settime 325\ntimerfd_gettime 326\n" +
	"signalfd4 327\neventfd2 328\nepoll_create1 329\ndup3 330\npipe2 331\ninotify_init1 332\n" +
	"preadv 333\npwritev 334\nrt_tgsigqueueinfo 335\nperf_event_open 336\nrecvmmsg 337\n" +
	"fanotify_init 338\nfanotify_mark 339\nprlimit64 340\nname_to_handle_at 341\n" +
	"open_by_handle_at 342\nclock_adjtime 343\nsyncfs 344\nsendmmsg 345\nsetns 346\n" +
	"process_vm_readv 347\nprocess_vm_writev 348\nkcmp 349\nfinit_module 350\nsched_setattr 351\n" +
	"sched_getattr 352\nrenameat2 353\nseccomp 354\ngetrandom 355\nmemfd_create 356\nbpf 357\n" +
	"execveat 358\nsocket 359\nsocketpair 360\nbind 361\nconnect 362\nlisten 363\naccept4 364\n" +
	"getsockopt 365\nsetsockopt 366\ngetsockname 367\ngetpeername 368\nsendto 369\nsendmsg 370\n" +
	"recvfrom 371\nrecvmsg 372\nshutdown 373\nuserfaultfd 374\nmembarrier 375\nmlock2 376\n" +
	"copy_file_range 377\npreadv2 378\npwritev2 379\npkey_mprotect 380\npkey_alloc 381\n" +
	"pkey_free 382\nstatx 383\narch_prctl 384\nio_pgetevents 385\nrseq 386\nsemget 393\nsemctl 394\n" +
	"shmget 395\nshmctl 396\nshmat 397\nshmdt 398\nmsgget 399\nmsgsnd 400\nmsgrcv 401\nmsgctl 402\n" +
	"clock_gettime64 403\nclock_settime64 404\nclock_adjtime64 405\nclock_getres_time64 406\n" +
	"clock_nanosleep_time64 407\ntimer_gettime64 408\ntimer_settime64 409\ntimerfd_gettime64 410\n" +
	"timerfd_settime64 411\nutimensat_time64 412\npselect6_time64 413\nppoll_time64 414\n" +
	"io_pgetevents_time64 416\nrecvmmsg_time64 417\nmq_timedsend_time64 418\n" +
	"mq_timedreceive_time64 419\nsemtimedop_time64 420\nrt_sigtimedwait_time64 421\n" +
	"futex_time64 422\nsched_rr_get_interval_time64 423\npidfd_send_signal 424\n" +
	"io_uring_setup 425\nio_uring_enter 426\nio_uring_register 427\nopen_tree 428\nmove_mount 429\n" +
	"fsopen 430\nfsconfig 431\nfsmount 432\nfspick 433\npidfd_open 434\nclone3 435\nclose_range 436\n" +
	"openat2 437\npidfd_getfd 438\nfaccessat2 439\nprocess_madvise 440\nepoll_pwait2 441\n" +
	"mount_setattr 442\nquotactl_fd 443\nlandlock_create_ruleset 444\nlandlock_add_rule 445\n" +
	"landlock_restrict_self 446\nmemfd_secret 447\nprocess_mrelease 448\nfutex_waitv 449\n" +
	"set_mempolicy_home_node 450\ncachestat 451\nfchmodat2 452\nmap_shadow_stack 453\n" +
	"futex_wake 454\nfutex_wait 455\nfutex_requeue 456\nstatmount 457\nlistmount 458\n" +
	"lsm_get_self_attr 459\nlsm_set_self_attr 460\nlsm_list_modules 461\nmseal 462\n" +
	"setxattrat 463\ngetxattrat 464\nlistxattrat 465\nremovexattrat 466\nopen_tree_attr 467\n"

// syscallsAARCH64 lists the syscalls of aarch64, "name number" a line.
const syscallsAARCH64 = "" +
	"io_setup 0\nio_destroy 1\nio_submit 2\nio_cancel 3\nio_getevents 4\nsetxattr 5\nlsetxattr 6\n" +
	"fsetxattr 7\ngetxattr 8\nlgetxattr 9\nfgetxattr 10\nlistxattr 11\nllistxattr 12\nflistxattr 13\n" +
	"removexattr 14\nlremovexattr 15\nfremovexattr 16\ngetcwd 17\nlookup_dcookie 18\neventfd2 19\n" +
	"epoll_create1 20\nepoll_ctl 21\nepoll_pwait 22\ndup 23\ndup3 24\nfcntl 25\ninotify_init1 26\n" +
	"inotify_add_watch 27\ninotify_rm_watch 28\nioctl 29\nioprio_set 30\nioprio_get 31\nflock 32\n" +
	"mknodat 33\nmkdirat 34\nunlinkat 35\nsymlinkat 36\nlinkat 37\nrenameat 38\numount2 39\nmount 40\n" +
	"pivot_root 41\nnfsservctl 42\nstatfs 43\nfstatfs 44\ntruncate 45\nftruncate 46\nfallocate 47\n" +
	"faccessat 48\nchdir 49\nfchdir 50\nchroot 51\nfchmod 52\nfchmodat 53\nfchownat 54\nfchown 55\n" +
	"openat 56\nclose 57\nvhangup 58\npipe2 59\nquotactl 60\ngetdents64 61\nlseek 62\nread 63\n" +
	"write 64\nreadv 65\nwritev 66\npread64 67\npwrite64 68\npreadv 69\npwritev 70\nsendfile 71\n" +
	"pselect6 72\nppoll 73\nsignalfd4 74\nvmsplice 75\nsplice 76\ntee 77\nreadlinkat 78\nfstatat 79\n" +
	"fstat 80\nsync 81\nfsync 82\nfdatasync 83\nsync_file_range 84\ntimerfd_create 85\n" +
	"timerfd_settime 86\ntimerfd_gettime 87\nutimensat 88\nacct 89\ncapget 90\ncapset 91\n" +
	"personality 92\nexit 93\nexit_group 94\nwaitid 95\nset_tid_address 96\nunshare 97\nfutex 98\n" +
	"set_robust_list 99\nget_robust_list 100\nnanosleep 101\ngetitimer 102\nsetitimer 103\n" +
	"kexec_load 104\ninit_module 105\ndelete_module 106\ntimer_create 107\ntimer_gettime 108\n" +
	"timer_getoverrun 109\ntimer_settime 110\ntimer_delete 111\nclock_settime 112\n" +
	"clock_gettime 113\nclock_getres 114\nclock_nanosleep 115\nsyslog 116\nptrace 117\n" +
	"sched_setparam 118\nsched_setscheduler 119\nsched_getscheduler 120\nsched_getparam 121\n" +
	"sched_setaffinity 122\nsched_getaffinity 123\nsched_yield 124\nsched_get_priority_max 125\n" +
	"sched_get_priority_min 126\nsched_rr_get_interval 127\nrestart_syscall 128\nkill 129\n" +
	"tkill 130\ntgkill 131\nsigaltstack 132\nrt_sigsuspend 133\nrt_sigaction 134\n" +
	"rt_sigprocmask 135\nrt_sigpending 136\nrt_sigtimedwait 137\nrt_sigqueueinfo 138\n" +
	"rt_sigreturn 139\nsetpriority 140\ngetpriority 141\nreboot 142\nsetregid 143\nsetgid 144\n" +
	"setreuid 145\nsetuid 146\nsetresuid 147\ngetresuid 148\nsetresgid 149\ngetresgid 150\n" +
	"setfsuid 151\nsetfsgid 152\ntimes 153\nsetpgid 154\ngetpgid 155\ngetsid 156\nsetsid 157\n" +
	"getgroups 158\nsetgroups 159\nuname 160\nsethostname 161\nsetdomainname 162\ngetrlimit 163\n" +
	"setrlimit 164\ngetrusage 165\numask 166\nprctl 167\ngetcpu 168\ngettimeofday 169\n" +
	"settimeofday 170\nadjtimex 171\ngetpid 172\ngetppid 173\ngetuid 174\ngeteuid 175\ngetgid 176\n" +
	"getegid 177\ngettid 178\nsysinfo 179\nmq_open 180\nmq_unlink 181\nmq_timedsend 182\n" +
	"mq_timedreceive 183\nmq_notify 184\nmq_getsetattr 185\nmsgget 186\nmsgctl 187\nmsgrcv 188\n" +
	"msgsnd 189\nsemget 190\nsemctl 191\nsemtimedop 192\nsemop 193\nshmget 194\nshmctl 195\n" +
	"shmat 196\nshmdt 197\nsocket 198\nsocketpair 199\nbind 200\nlisten 201\naccept 202\nconnect 203\n" +
	"getsockname 204\ngetpeername 205\nsendto 206\nrecvfrom 207\nsetsockopt 208\ngetsockopt 209\n" +
	"shutdown 210\nsendmsg 211\nrecvmsg 212\nreadahead 213\nbrk 214\nmunmap 215\nmremap 216\n" +
	"add_key 217\nrequest_key 218\nkeyctl 219\nclone 220\nexecve 221\nmmap 222\nfadvise64 223\n" +
	"swapon 224\nswapoff 225\nmprotect 226\nmsync 227\nmlock 228\nmunlock 229\nmlockall 230\n" +
	"munlockall 231\nmincore 232\nmadvise 233\nremap_file_pages 234\nmbind 235\nget_mempolicy 236\n" +
	"set_mempolicy 237\nmigrate_pages 238\nmove_pages 239\nrt_tgsigqueueinfo 240\n" +
	"perf_event_open 241\naccept4 242\nrecvmmsg 243\narch_specific_syscall 244\nwait4 260\n" +
	"prlimit64 261\nfanotify_init 262\nfanotify_mark 263\nname_to_handle_at 264\n" +
	"open_by_handle_at 265\nclock_adjtime 266\nsyncfs 267\nsetns 268\nsendmmsg 269\n" +
	"process_vm_readv 270\nprocess_vm_writev 271\nkcmp 272\nfinit_module 273\nsched_setattr 274\n" +
	"sched_getattr 275\nrenameat2 276\nseccomp 277\ngetrandom 278\nmemfd_create 279\nbpf 280\n" +
	"execveat 281\nuserfaultfd 282\nmembarrier 283\nmlock2 284\ncopy_file_range 285\npreadv2 286\n" +
	"pwritev2 287\npkey_mprotect 288\npkey_alloc 289\npkey_free 290\nstatx 291\nio_pgetevents 292\n" +
	"rseq 293\nkexec_file_load 294\nclock_gettime64 403\nclock_settime64 404\nclock_adjtime64 405\n" +
	"clock_getres_time64 406\nclock_nanosleep_time64 407\ntimer_gettime64 408\n" +
	"timer_settime64 409\ntimerfd_gettime64 410\ntimerfd_settime64 411\nutimensat_time64 412\n" +
	"pselect6_time64 413\nppoll_time64 414\nio_pgetevents_time64 416\nrecvmmsg_time64 417\n" +
	"mq_timedsend_time64 418\nmq_timedreceive_time64 419\nsemtimedop_time64 420\n" +
	"rt_sigtimedwait_time64 421\nfutex_time64 422\nsched_rr_get_interval_time64 423\n" +
	"pidfd_send_signal 424\nio_uring_setup 425\nio_uring_enter 426\nio_uring_register 427\n" +
	"open_tree 428\nmove_mount 429\nfsopen 430\nfsconfig 431\nfsmount 432\nfspick 433\n" +
	"pidfd_open 434\nclone3 435\nclose_range 436\nopenat2 437\npidfd_getfd 438\nfaccessat2 439\n" +
	"process_madvise 440\nepoll_pwait2 441\nmount_setattr 442\nquotactl_fd 443\n" +
	"landlock_create_ruleset 444\nlandlock_add_rule 445\nlandlock_restrict_self 446\n" +
	"memfd_secret 447\nprocess_mrelease 448\nfutex_waitv 449\nset_mempolicy_home_node 450\n" +
	"cachestat 451\nfchmodat2 452\nmap_shadow_stack 453\nfutex_wake 454\nfutex_wait 455\n" +
	"futex_requeue 456\nstatmount 457\nlistmount 458\nlsm_get_self_attr 459\n" +
	"lsm_set_self_attr 460\nlsm_list_modules 461\nmseal 462\nsetxattrat 463\ngetxattrat 464\n" +
	"listxattrat 465\nremovexattrat 466\nopen_tree_attr 467\n"

// syscallsARM lists the syscalls of arm, "name number" a line.
const syscallsARM = "" +
	"restart_syscall 0\nexit 1\nfork 2\nread 3\nwrite 4\nopen 5\nclose 6\ncreat 8\nlink 9\nunlink 10\n" +
	"execve 11\nchdir 12\nmknod 14\nchmod 15\nlchown 16\nlseek 19\ngetpid 20\nmount 21\nsetuid 23\n" +
	"getuid 24\nptrace 26\npause 29\naccess 33\nnice 34\nsync 36\nkill 37\nrename 38\nmkdir 39\n" +
	"rmdir 40\ndup 41\npipe 42\ntimes 43\nbrk 45\nsetgid 46\ngetgid 47\ngeteuid 49\ngetegid 50\n" +
	"acct 51\numount2 52\nioctl 54\nfcntl 55\nsetpgid 57\numask 60\nchroot 61\nustat 62\ndup2 63\n" +
	"getppid 64\ngetpgrp 65\nsetsid 66\nsigaction 67\nsetreuid 70\nsetregid 71\nsigsuspend 72\n" +
	"sigpending 73\nsethostname 74\nsetrlimit 75\ngetrusage 77\ngettimeofday 78\nsettimeofday 79\n" +
	"getgroups 80\nsetgroups 81\nsymlink 83\nreadlink 85\nuselib 86\nswapon 87\nreboot 88\nmunmap 91\n" +
	"truncate 92\nftruncate 93\nfchmod 94\nfchown 95\ngetpriority 96\nsetpriority 97\nstatfs 99\n" +
	"fstatfs 100\nsyslog 103\nsetitimer 104\ngetitimer 105\nstat 106\nlstat 107\nfstat 108\n" +
	"vhangup 111\nwait4 114\nswapoff 115\nsysinfo 116\nfsync 118\nsigreturn 119\nclone 120\n" +
	"setdomainname 121\nuname 122\nadjtimex 124\nmprotect 125\nsigprocmask 126\ninit_module 128\n" +
	"delete_module 129\nquotactl 131\ngetpgid 132\nfchdir 133\nbdflush 134\nsysfs 135\n" +
	"personality 136\nsetfsuid 138\nsetfsgid 139\n_llseek 140\ngetdents 141\n_newselect 142\n" +
	"flock 143\nmsync 144\nreadv 145\nwritev 146\ngetsid 147\nfdatasync 148\n_sysctl 149\nmlock 150\n" +
	"munlock 151\nmlockall 152\nmunlockall 153\nsched_setparam 154\nsched_getparam 155\n" +
	"sched_setscheduler 156\nsched_getscheduler 157\nsched_yield 158\nsched_get_priority_max 159\n" +
	"sched_get_priority_min 160\nsched_rr_get_interval 161\nnanosleep 162\nmremap 163\n" +
	"setresuid 164\ngetresuid 165\npoll 168\nnfsservctl 169\nsetresgid 170\ngetresgid 171\n" +
	"prctl 172\nrt_sigreturn 173\nrt_sigaction 174\nrt_sigprocmask 175\nrt_sigpending 176\n" +
	"rt_sigtimedwait 177\nrt_sigqueueinfo 178\nrt_sigsuspend 179\npread64 180\npwrite64 181\n" +
	"chown 182\ngetcwd 183\ncapget 184\ncapset 185\nsigaltstack 186\nsendfile 187\nvfork 190\n" +
	"ugetrlimit 191\nmmap2 192\ntruncate64 193\nftruncate64 194\nstat64 195\nlstat64 196\n" +
	"fstat64 197\nlchown32 198\ngetuid32 199\ngetgid32 200\ngeteuid32 201\ngetegid32 202\n" +
	"setreuid32 203\nsetregid32 204\ngetgroups32 205\nsetgroups32 206\nfchown32 207\n" +
	"setresuid32 208\ngetresuid32 209\nsetresgid32 210\ngetresgid32 211\nchown32 212\nsetuid32 213\n" +
	"setgid32 214\nsetfsuid32 215\nsetfsgid32 216\ngetdents64 217\npivot_root 218\nmincore 219\n" +
	"madvise 220\nfcntl64 221\ngettid 224\nreadahead 225\nsetxattr 226\nlsetxattr 227\n" +
	"fsetxattr 228\ngetxattr 229\nlgetxattr 230\nfgetxattr 231\nlistxattr 232\nllistxattr 233\n" +
	"flistxattr 234\nremovexattr 235\nlremovexattr 236\nfremovexattr 237\ntkill 238\n" +
	"sendfile64 239\nfutex 240\nsched_setaffinity 241\nsched_getaffinity 242\nio_setup 243\n" +
	"io_destroy 244\nio_getevents 245\nio_submit 246\nio_cancel 247\nexit_group 248\n" +
	"lookup_dcookie 249\nepoll_create 250\nepoll_ctl 251\nepoll_wait 252\nremap_file_pages 253\n" +
	"set_tid_address 256\ntimer_create 257\ntimer_settime 258\ntimer_gettime 259\n" +
	"timer_getoverrun 260\ntimer_delete 261\nclock_settime 262\nclock_gettime 263\n" +
	"clock_getres 264\nclock_nanosleep 265\nstatfs64 266\nfstatfs64 267\ntgkill 268\nutimes 269\n" +
	"arm_fadvise64_64 270\npciconfig_iobase 271\npciconfig_read 272\npciconfig_write 273\n" +
	"mq_open 274\nmq_unlink 275\nmq_timedsend 276\nmq_timedreceive 277\nmq_notify 278\n" +
	"mq_getsetattr 279\nwaitid 280\nsocket 281\nbind 282\nconnect 283\nlisten 284\naccept 285\n" +
	"getsockname 286\ngetpeername 287\nsocketpair 288\nsend 289\nsendto 290\nrecv 291\nrecvfrom 292\n" +
	"shutdown 293\nsetsockopt 294\ngetsockopt 295\nsendmsg 296\nrecvmsg 297\nsemop 298\nsemget 299\n" +
	"semctl 300\nmsgsnd 301\nmsgrcv 302\nmsgget 303\nmsgctl 304\nshmat 305\nshmdt 306\nshmget 307\n" +
	"shmctl 308\nadd_key 309\nrequest_key 310\nkeyctl 311\nsemtimedop 312\nvserver 313\n" +
	"ioprio_set 314\nioprio_get 315\ninotify_init 316\ninotify_add_watch 317\n" +
	"inotify_rm_watch 318\nmbind 319\nget_mempolicy 320\nset_mempolicy 321\nopenat 322\n" +
	"mkdirat 323\nmknodat 324\nfchownat 325\nfutimesat 326\nfstatat64 327\nunlinkat 328\n" +
	"renameat 329\nlinkat 330\nsymlinkat 331\nreadlinkat 332\nfchmodat 333\nfaccessat 334\n" +
	"pselect6 335\nppoll 336\nunshare 337\nset_robust_list 338\nget_robust_list 339\nsplice 340\n" +
	"arm_sync_file_range 341\ntee 342\nvmsplice 343\nmove_pages 344\ngetcpu 345\nepoll_pwait 346\n" +
	"kexec_load 347\nutimensat 348\nsignalfd 349\ntimerfd_create 350\neventfd 351\nfallocate 352\n" +
	"timerfd_settime 353\ntimerfd_gettime 354\nsignalfd4 355\neventfd2 356\nepoll_create1 357\n" +
	"dup3 358\npipe2 359\ninotify_init1 360\npreadv 361\npwritev 362\nrt_tgsigqueueinfo 363\n" +
	"perf_event_open 364\nrecvmmsg 365\naccept4 366\nfanotify_init 367\nfanotify_mark 368\n" +
	"prlimit64 369\nname_to_handle_at 370\nopen_by_handle_at 371\nclock_adjtime 372\nsyncfs 373\n" +
	"sendmmsg 374\nsetns 375\nprocess_vm_readv 376\nprocess_vm_writev 377\nkcmp 378\n" +
	"finit_module 379\nsched_setattr 380\nsched_getattr 381\nrenameat2 382\nseccomp 383\n" +
	"getrandom 384\nmemfd_create 385\nbpf 386\nexecveat 387\nuserfaultfd 388\nmembarrier 389\n" +
	"mlock2 390\ncopy_file_range 391\npreadv2 392\npwritev2 393\npkey_mprotect 394\npkey_alloc 395\n" +
	"pkey_free 396\nstatx 397\nrseq 398\nio_pgetevents 399\nmigrate_pages 400\nkexec_file_load 401\n" +
	"clock_gettime64 403\nclock_settime64 404\nclock_adjtime64 405\nclock_getres_time64 406\n" +
	"clock_nanosleep_time64 407\ntimer_gettime64 408\ntimer_settime64 409\ntimerfd_gettime64 410\n" +
	"timerfd_settime64 411\nutimensat_time64 412\npselect6_time64 413\nppoll_time64 414\n" +
	"io_pgetevents_time64 416\nrecvmmsg_time64 417\nmq_timedsend_time64 418\n" +
	"mq_timedreceive_time64 419\nsemtimedop_time64 420\nrt_sigtimedwait_time64 421\n" +
	"futex_time64 422\nsched_rr_get_interval_time64 423\npidfd_send_signal 424\n" +
	"io_uring_setup 425\nio_uring_enter 426\nio_uring_register 427\nopen_tree 428\nmove_mount 429\n" +
	"fsopen 430\nfsconfig 431\nfsmount 432\nfspick 433\npidfd_open 434\nclone3 435\nclose_range 436\n" +
	"openat2 437\npidfd_getfd 438\nfaccessat2 439\nprocess_madvise 440\nepoll_pwait2 441\n" +
	"mount_setattr 442\nquotactl_fd 443\nlandlock_create_ruleset 444\nlandlock_add_rule 445\n" +
	"landlock_restrict_self 446\nprocess_mrelease 448\nfutex_waitv 449\n" +
	"set_mempolicy_home_node 450\ncachestat 451\nfchmodat2 452\nmap_shadow_stack 453\n" +
	"futex_wake 454\nfutex_wait 455\nfutex_requeue 456\nstatmount 457\nlistmount 458\n" +
	"lsm_get_self_attr 459\nlsm_set_self_attr 460\nlsm_list_modules 461\nmseal 462\n" +
	"setxattrat 463\ngetxattrat 464\nlistxattrat 465\nremovexattrat 466\nopen_tree_attr 467\n" +
	"breakpoint 983041\ncacheflush 983042\nusr26 983043\nusr32 983044\nset_tls 983045\n" +
	"get_tls 983046\n"

// floor: the system-call floor of a size walk, for .ci/bench.
//
//   floor ROOT [THREADS]
//
// It makes only the calls a walk cannot do without: getdents64 to list a
// directory, fstatat relative to the directory's descriptor for every entry
// that is not a directory, and openat (O_NOFOLLOW) relative to the parent for
// every directory. It checks nothing, keeps no hard-link set and reports
// nothing per session; it prints the entries it saw and their apparent size.
// THREADS (default: the number of CPUs) take directories from one shared
// stack. What sessaudit does beyond these calls is what its time over this
// program's is spent on.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int *stack;      // open directory descriptors waiting to be read
static size_t depth, capacity;
static int busy;        // threads reading a directory
static uint64_t entries, bytes;
static int failed;

static void push(int fd) {
	pthread_mutex_lock(&mu);
	if (depth == capacity) {
		capacity = capacity ? 2 * capacity : 1024;
		stack = realloc(stack, capacity * sizeof *stack);
		if (!stack) {
			perror("floor: realloc");
			exit(1);
		}
	}
	stack[depth++] = fd;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
}

// pop returns the next directory, or -1 when every thread is idle and the
// stack is empty: the walk is over.
static int pop(void) {
	pthread_mutex_lock(&mu);
	busy--;
	while (depth == 0 && busy > 0)
		pthread_cond_wait(&cv, &mu);
	int fd = -1;
	if (depth > 0) {
		fd = stack[--depth];
		busy++;
	} else {
		pthread_cond_broadcast(&cv);
	}
	pthread_mutex_unlock(&mu);
	return fd;
}

static void *worker(void *arg) {
	(void)arg;
	char *buf = malloc(32 << 10);
	uint64_t n = 0, size = 0;
	int fd;
	while ((fd = pop()) >= 0) {
		for (;;) {
			long nb = syscall(SYS_getdents64, fd, buf, 32 << 10);
			if (nb < 0) {
				perror("floor: getdents64");
				failed = 1;
			}
			if (nb <= 0)
				break;
			for (long off = 0; off < nb;) {
				struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
				off += d->d_reclen;
				const char *name = d->d_name;
				if (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2])))
					continue;
				n++;
				if (d->d_type == DT_DIR) {
					int sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
					if (sub < 0) {
						perror("floor: openat");
						failed = 1;
						continue;
					}
					push(sub);
					continue;
				}
				struct stat st;
				if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
					perror("floor: fstatat");
					failed = 1;
					continue;
				}
				size += st.st_size;
			}
		}
		close(fd);
	}
	pthread_mutex_lock(&mu);
	entries += n;
	bytes += size;
	pthread_mutex_unlock(&mu);
	free(buf);
	return NULL;
}

int main(int argc, char **argv) {
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: floor ROOT [THREADS]\n");
		return 2;
	}
	long threads = argc == 3 ? atol(argv[2]) : sysconf(_SC_NPROCESSORS_ONLN);
	if (threads < 1) {
		fprintf(stderr, "floor: THREADS must be at least 1\n");
		return 2;
	}
	// Directories wait on the stack open: allow as many as the hard limit.
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	int root = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		perror(argv[1]);
		return 1;
	}
	busy = threads; // each thread starts by asking for work
	push(root);
	pthread_t *t = calloc(threads, sizeof *t);
	for (long i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (long i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	printf("%llu entries, %llu bytes\n", (unsigned long long)entries, (unsigned long long)bytes);
	return failed;
}

/* Small readers of /proc for `who` (lifecycle/who.c): the processes, their mount namespaces and the
 * objects they use (root and working directory, open files, mapped files). Every one of them races
 * with processes that come and go, so a process or fd that vanished meanwhile is -ESRCH ("gone"),
 * which callers skip, never an error. A process is reached through its /proc/PID directory fd,
 * which stays that process (reads fail with ESRCH once it is gone) even if its pid is reused. */
#pragma once

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* What a process uses, as statx tells it through the /proc magic link. */
struct ovl_proc_object {
        uint64_t mnt_id; /* the mount it is on (STATX_MNT_ID, or the unique id when asked for) */
        uint64_t dev;    /* its st_dev, (major << 32) | minor as in struct ovl_tree_id */
        uint64_t ino;
        mode_t mode;
};

/* One line of /proc/PID/maps that maps a file. */
struct ovl_proc_map {
        uint64_t start, end;
        uint64_t dev; /* (major << 32) | minor */
        uint64_t ino;
        const char *path; /* points into the line: the kernel's path, " (deleted)" stripped */
};

/* Whether r (a -errno from these readers) means the process or its fd is gone. */
bool ovl_proc_gone(int r);

/* Reads the next entry of d named by a plain decimal number (a pid of /proc, a tid of
 * /proc/PID/task, an fd of /proc/PID/fd), skipping the others. Returns 1 with *ret, 0 at the end,
 * or -errno. */
int ovl_proc_next_number(DIR *d, int *ret);

/* Opens /proc/PID (proc_fd: /proc) as a directory fd. Returns the fd, -ESRCH when it is gone, or
 * -errno. */
int ovl_proc_open_pid(int proc_fd, pid_t pid);

/* Opens the directory name below pid_fd ("fd", "task") for reading its entries. Returns 0 and
 * *ret, -ESRCH when the process is gone, or -errno. */
int ovl_proc_opendir(int pid_fd, const char *name, DIR **ret);

/* Opens the file name below pid_fd ("mountinfo", "maps") as a stream. Returns 0 and *ret, -ESRCH
 * when the process is gone, or -errno. */
int ovl_proc_fopen(int pid_fd, const char *name, FILE **ret);

/* Reads the inode of the namespace link ns (e.g. "ns/mnt", "task/TID/ns/mnt") below pid_fd.
 * Returns 0, -ESRCH or -errno. */
int ovl_proc_ns_inode(int pid_fd, const char *ns, uint64_t *ret);

/* Reads the owner (its creator's uid) of the user namespace that owns the namespace link ns below
 * pid_fd. Returns 0, -ESRCH or -errno. */
int ovl_proc_ns_owner_uid(int pid_fd, const char *ns, uid_t *ret);

/* Copies the process' name (/proc/PID/comm, without its newline) into buf. Returns 0, -ESRCH or
 * -errno. */
int ovl_proc_comm(int pid_fd, char *buf, size_t size);

/* Reads the parent's pid of the process open at pid_fd (/proc/PID/stat). Returns 0, -ESRCH or
 * -errno. */
int ovl_proc_ppid(int pid_fd, pid_t *ret);

/* Reads the object behind the magic link name below pid_fd ("root", "cwd", "fd/N",
 * "map_files/A-B"), following only that link, with AT_STATX_DONT_SYNC (cached attributes: a
 * network or FUSE filesystem is not asked). unique: the mount's unique id (6.8+) rather than its
 * plain id. Returns 0, -ESRCH, -EOPNOTSUPP when the kernel has no such id, or -errno. */
int ovl_proc_object(int pid_fd, const char *name, bool unique, struct ovl_proc_object *ret);

/* Sets *ret to a new copy of the kernel's path for the magic link name below pid_fd, without a
 * " (deleted)" suffix. Returns 0, -ESRCH or -errno. */
int ovl_proc_link(int pid_fd, const char *name, char **ret);

/* Parses one line of /proc/PID/maps (without its newline; modified in place). Returns 1 with
 * *ret for a line that maps a file by path, 0 for an anonymous or special mapping ([heap],
 * [stack], ...), or -EINVAL for a malformed line. */
int ovl_proc_parse_maps_line(char *line, struct ovl_proc_map *ret);

/* Whether the process open at pid_fd runs the same program file as this one (its exe link's
 * device and inode): one of ovlbackend's own sandboxed workers, say. Returns 1, 0, -ESRCH when it
 * is gone, or -errno. */
int ovl_proc_runs_our_program(int pid_fd);

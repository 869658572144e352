/* vmsvc-guest-cid - print this guest's vsock CID (Debian test guest only).
 *
 * Built by tools/mkdebian into the guest image; runs only inside QEMU guests
 * started by the project's scripts. It asks /dev/vsock for the local CID
 * (IOCTL_VM_SOCKETS_GET_LOCAL_CID) and opens no socket. Prints "none" when
 * there is no transport or the answer is no CID the host gave us
 * (VMADDR_CID_ANY, 0, 1 = local loopback, 2 = host).
 */
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(void)
{
	unsigned int cid = VMADDR_CID_ANY;
	int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) != 0)
			cid = VMADDR_CID_ANY;
		close(fd);
	}
	if (cid == VMADDR_CID_ANY || cid <= 2)
		puts("none");
	else
		printf("%u\n", cid);
	return 0;
}

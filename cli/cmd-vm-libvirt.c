/* SPDX-License-Identifier: MIT */
/*
 * cmd-vm-libvirt.c - vmsvc vm libvirt-xml NAME [--domain FILE]: what a
 * libvirt domain needs so that vmsvcd is its vsock device, as libvirt XML.
 *
 * Two pieces, the same as 'vm qemu-args' gives QEMU:
 * - guest memory in a memfd shared with vmsvcd: libvirt's own
 *   <memoryBacking><source type='memfd'/><access mode='shared'/>, which
 *   libvirt sizes from the domain's <memory> itself;
 * - the vhost-user-vsock-pci device on RUNDIR/vms/NAME.vhost. libvirt 9.0
 *   (Debian 12) has an element for the kernel's vhost-vsock only
 *   (<vsock>, see its schemas/domaincommon.rng), so the -chardev and
 *   -device options go through libvirt's QEMU command-line passthrough,
 *   <qemu:commandline> in the namespace QEMU_NS.
 *
 * Without --domain the pieces are printed as a commented XML document to
 * merge by hand (virsh edit). With --domain the given domain is parsed
 * (libxml2: no network, no entity expansion), patched and printed. The
 * pieces replace what they supersede (a memory <source> and <access>,
 * NUMA cells' private memAccess, a <vsock> device, the passthrough of an
 * earlier run), so patching a patched domain changes nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlsave.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"
#include "vmtable.h"

#define CMD	"vm libvirt-xml"
#define QEMU_NS "http://libvirt.org/schemas/domain/qemu/1.0"

static void libvirt_usage(FILE *out)
{
	fprintf(out,
		"Usage: vmsvc vm libvirt-xml NAME [--domain FILE]\n\n"
		"Prints what a libvirt domain needs so that vmsvcd is its vsock device\n"
		"(RUNDIR/vms/NAME.vhost; RUNDIR = $VMSVC_RUNTIME_DIR, --runtime-dir or\n"
		"/run/vmsvc):\n"
		"  - guest memory in a memfd shared with vmsvcd (libvirt's <memoryBacking>\n"
		"    with <source type='memfd'/> and <access mode='shared'/>);\n"
		"  - the vhost-user-vsock-pci device, through libvirt's QEMU command-line\n"
		"    passthrough (<qemu:commandline>, with xmlns:qemu on <domain>): libvirt 9\n"
		"    has an element for the kernel's vhost-vsock only.\n"
		"Without --domain: these pieces, with comments saying where each goes (for\n"
		"'virsh edit DOMAIN').\n\n"
		"  --domain FILE  print domain XML FILE (- for stdin) with the pieces added:\n"
		"                 they replace its memory <source> and <access>, NUMA cells'\n"
		"                 memAccess='private', its <vsock> device (the kernel's\n"
		"                 vhost-vsock) and an earlier run's passthrough. For example:\n"
		"                   virsh dumpxml web1 --inactive |\n"
		"                     vmsvc vm libvirt-xml web1 --domain - >web1.xml &&\n"
		"                     virsh define web1.xml\n\n"
		"The domain's QEMU must be able to open the socket: see docs/guide.md,\n"
		"section 14 (libvirt).\n\n"
		"Exit status: 0 success, 1 failure (no such VM, FILE unreadable or not a\n"
		"libvirt domain), 2 wrong usage.\n");
}

static void xml_char_freep(xmlChar **p)
{
	xmlFree(*p);
}

/* The first element child of parent named name, in no namespace. */
static xmlNodePtr child(xmlNodePtr parent, const char *name)
{
	for (xmlNodePtr n = parent ? parent->children : NULL; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE && !n->ns && xmlStrEqual(n->name, BAD_CAST name))
			return n;
	return NULL;
}

/* Unlinks and frees every element child of parent named name. */
static unsigned drop_children(xmlNodePtr parent, const char *name)
{
	xmlNodePtr n;
	unsigned count = 0;

	while ((n = child(parent, name))) {
		xmlUnlinkNode(n);
		xmlFreeNode(n);
		count++;
	}
	return count;
}

/* Adds <name attr="value"/> to parent; NULL when out of memory. */
static xmlNodePtr add_empty(xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *attr,
			    const char *value)
{
	xmlNodePtr n = xmlNewChild(parent, ns, BAD_CAST name, NULL);

	if (n && !xmlNewProp(n, BAD_CAST attr, BAD_CAST value))
		return NULL;
	return n;
}

/* Makes memory backing mb a shared memfd (keeping hugepages and the like). */
static int set_memory_backing(xmlNodePtr mb)
{
	drop_children(mb, "source");
	drop_children(mb, "access");
	if (!add_empty(mb, NULL, "source", "type", "memfd") ||
	    !add_empty(mb, NULL, "access", "mode", "shared"))
		return -ENOMEM;
	return 0;
}

/* Whether a <qemu:arg> value is one that a vmsvc passthrough added. */
static bool vmsvc_arg(const xmlChar *value)
{
	return value && (!xmlStrncmp(value, BAD_CAST "socket,id=vmsvc-", 16) ||
			 !xmlStrncmp(value, BAD_CAST "vhost-user-vsock-pci,", 21));
}

/* Whether <qemu:arg> n is "-chardev" or "-device", the option of a value. */
static bool option_arg(xmlNodePtr n)
{
	_cleanup_(xml_char_freep) xmlChar *v = xmlGetProp(n, BAD_CAST "value");

	return v && (xmlStrEqual(v, BAD_CAST "-chardev") || xmlStrEqual(v, BAD_CAST "-device"));
}

/* Removes the -chardev and -device pairs of an earlier run from cmdline. */
static void drop_vmsvc_args(xmlNodePtr cmdline)
{
	xmlNodePtr n = cmdline->children, next, prev;

	for (; n; n = next) {
		_cleanup_(xml_char_freep) xmlChar *v = NULL;

		next = n->next;
		if (n->type != XML_ELEMENT_NODE || !xmlStrEqual(n->name, BAD_CAST "arg"))
			continue;
		v = xmlGetProp(n, BAD_CAST "value");
		if (!vmsvc_arg(v))
			continue;
		prev = xmlPreviousElementSibling(n);
		if (prev && xmlStrEqual(prev->name, BAD_CAST "arg") && option_arg(prev)) {
			xmlUnlinkNode(prev);
			xmlFreeNode(prev);
		}
		xmlUnlinkNode(n);
		xmlFreeNode(n);
	}
}

/* Appends VM name's -chardev and -device options to cmdline. */
static int add_vsock_args(xmlNodePtr cmdline, xmlNsPtr ns, const char *name)
{
	_cleanup_free_ char *chr = NULL, *dev = NULL;

	if (cli_vm_qemu_vsock(name, &chr, &dev) < 0)
		return -ENOMEM;
	if (!add_empty(cmdline, ns, "arg", "value", "-chardev") ||
	    !add_empty(cmdline, ns, "arg", "value", chr) ||
	    !add_empty(cmdline, ns, "arg", "value", "-device") ||
	    !add_empty(cmdline, ns, "arg", "value", dev))
		return -ENOMEM;
	return 0;
}

/* Adds a comment before node (which must have a parent). */
static int comment_before(xmlDocPtr doc, xmlNodePtr node, const char *text)
{
	xmlNodePtr c = xmlNewDocComment(doc, BAD_CAST text);

	if (!c || !xmlAddPrevSibling(node, c))
		return -ENOMEM;
	return 0;
}

/* The snippet's comments. No "--" in them (XML forbids it), so no VM name
 * and no path either. */
static const char snippet_head[] =
	" vmsvc: what a libvirt domain needs so that vmsvcd is its vsock\n"
	"     device. Merge it into the domain with 'virsh edit DOMAIN', or\n"
	"     let vmsvc do it (see vmsvc vm libvirt-xml -h). ";
static const char snippet_memory[] =
	" 1. <domain> declares xmlns:qemu as above (for 3).\n"
	"       2. In <domain>: guest memory in a memfd shared with vmsvcd\n"
	"       (replaces any <source> and <access> there; keep the rest).\n"
	"       Under <cpu><numa>, no <cell> may say memAccess='private'. ";
static const char snippet_device[] =
	" 3. In <domain>, at its end: the vhost-user vsock device (libvirt 9\n"
	"       has no element for it). Remove any <vsock> from <devices>: the\n"
	"       guest has one vsock device, and vmsvcd is it. ";

/* The snippet: a <domain> holding only the pieces, with comments. */
static int build_snippet(xmlDocPtr doc, const char *name)
{
	xmlNodePtr root = xmlNewDocNode(doc, NULL, BAD_CAST "domain", NULL), mb, cmdline;
	xmlNsPtr ns;

	if (!root)
		return -ENOMEM;
	xmlDocSetRootElement(doc, root);
	if (!(ns = xmlNewNs(root, BAD_CAST QEMU_NS, BAD_CAST "qemu")) ||
	    !(mb = xmlNewChild(root, NULL, BAD_CAST "memoryBacking", NULL)) ||
	    set_memory_backing(mb) < 0 ||
	    !(cmdline = xmlNewChild(root, ns, BAD_CAST "commandline", NULL)) ||
	    add_vsock_args(cmdline, ns, name) < 0 || comment_before(doc, root, snippet_head) < 0 ||
	    comment_before(doc, mb, snippet_memory) < 0 ||
	    comment_before(doc, cmdline, snippet_device) < 0)
		return -ENOMEM;
	return 0;
}

/* The first element child of root that is <qemu:commandline>. */
static xmlNodePtr find_commandline(xmlNodePtr root)
{
	for (xmlNodePtr n = root->children; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE && n->ns &&
		    xmlStrEqual(n->ns->href, BAD_CAST QEMU_NS) &&
		    xmlStrEqual(n->name, BAD_CAST "commandline"))
			return n;
	return NULL;
}

/* Where a new <memoryBacking> goes: after <currentMemory> or <memory>. */
static xmlNodePtr new_memory_backing(xmlNodePtr root)
{
	xmlNodePtr mb = xmlNewNode(NULL, BAD_CAST "memoryBacking"), at;

	if (!mb)
		return NULL;
	at = child(root, "currentMemory") ?: child(root, "memory");
	if (at ? !xmlAddNextSibling(at, mb) : !xmlAddChild(root, mb)) {
		xmlFreeNode(mb);
		return NULL;
	}
	return mb;
}

/* NUMA cells with memAccess='private' would not share their memory. */
static void share_numa_cells(xmlNodePtr root)
{
	xmlNodePtr numa = child(child(root, "cpu"), "numa");

	for (xmlNodePtr n = numa ? numa->children : NULL; n; n = n->next) {
		_cleanup_(xml_char_freep) xmlChar *a = NULL;

		if (n->type != XML_ELEMENT_NODE || !xmlStrEqual(n->name, BAD_CAST "cell"))
			continue;
		a = xmlGetProp(n, BAD_CAST "memAccess");
		if (a && xmlStrEqual(a, BAD_CAST "private")) {
			xmlSetProp(n, BAD_CAST "memAccess", BAD_CAST "shared");
			cli_error("note: NUMA cell memAccess='private' is now 'shared'");
		}
	}
}

/* The qemu namespace on root: its own declaration, or a new one. */
static xmlNsPtr qemu_ns(xmlDocPtr doc, xmlNodePtr root)
{
	xmlNsPtr ns = xmlSearchNsByHref(doc, root, BAD_CAST QEMU_NS);

	if (ns)
		return ns;
	if (xmlSearchNs(doc, root, BAD_CAST "qemu")) {
		cli_error("the domain binds the prefix 'qemu' to another namespace than " QEMU_NS);
		return NULL;
	}
	if (!(ns = xmlNewNs(root, BAD_CAST QEMU_NS, BAD_CAST "qemu")))
		cli_error("out of memory");
	return ns;
}

/* Adds the pieces to domain doc (read from file). 0, or EXIT_FAIL said. */
static int patch_domain(xmlDocPtr doc, const char *name, const char *file)
{
	xmlNodePtr root = xmlDocGetRootElement(doc), mb, cmdline;
	xmlNsPtr ns;

	if (!root || root->ns || !xmlStrEqual(root->name, BAD_CAST "domain")) {
		cli_error("%s: not a libvirt domain (its root element is <%s>, not <domain>)", file,
			  root ? (const char *)root->name : "");
		return EXIT_FAIL;
	}
	if (!(ns = qemu_ns(doc, root)))
		return EXIT_FAIL;
	if (drop_children(child(root, "devices"), "vsock"))
		cli_error("note: removed the domain's <vsock> device (the kernel's vhost-vsock): "
			  "vmsvcd is its vsock device now");
	share_numa_cells(root);
	mb = child(root, "memoryBacking") ?: new_memory_backing(root);
	cmdline = find_commandline(root);
	if (cmdline)
		drop_vmsvc_args(cmdline);
	else
		cmdline = xmlNewChild(root, ns, BAD_CAST "commandline", NULL);
	if (!mb || !cmdline || set_memory_backing(mb) < 0 ||
	    add_vsock_args(cmdline, ns, name) < 0) {
		cli_error("out of memory");
		return EXIT_FAIL;
	}
	return 0;
}

/* libxml2's first error while parsing (its last one is often a mere
 * consequence, "Premature end of data"). */
struct first_error {
	bool set;
	int line;
	char msg[200];
};

#if LIBXML_VERSION >= 21200
typedef const xmlError *xml_error_arg;
#else
typedef xmlErrorPtr xml_error_arg;
#endif

static void keep_first_error(void *opaque, xml_error_arg e)
{
	struct first_error *f = opaque;

	if (f->set || e->level < XML_ERR_ERROR)
		return;
	f->set = true;
	f->line = e->line;
	snprintf(f->msg, sizeof(f->msg), "%.*s", (int)strcspn(e->message ?: "", "\n"),
		 e->message ?: "not XML");
}

/* Reads domain XML file ("-": stdin) into *doc, or says why not. */
static int read_domain(const char *file, xmlDocPtr *doc)
{
	_cleanup_close_ int fd = -1;
	struct first_error first = { 0 };
	bool in = strcmp(file, "-") == 0;

	if (!in && (fd = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
		cli_error("cannot read %s: %s", file, strerror(errno));
		return EXIT_FAIL;
	}
	xmlSetStructuredErrorFunc(&first, keep_first_error);
	/* xmlReadFd does not close the fd: fd is closed here, stdin stays. */
	*doc = xmlReadFd(in ? STDIN_FILENO : fd, file, NULL, XML_PARSE_NONET | XML_PARSE_NOBLANKS);
	xmlSetStructuredErrorFunc(NULL, NULL);
	if (*doc)
		return 0;
	if (first.set)
		cli_error("%s:%d: %s", file, first.line, first.msg);
	else
		cli_error("%s: not XML", file);
	return EXIT_FAIL;
}

/* Prints doc, indented, without an XML declaration. */
static int print_doc(xmlDocPtr doc)
{
	xmlSaveCtxtPtr s;

	fflush(stdout);
	s = xmlSaveToFd(STDOUT_FILENO, "UTF-8", XML_SAVE_FORMAT | XML_SAVE_NO_DECL);
	if (!s || xmlSaveDoc(s, doc) < 0 || xmlSaveClose(s) < 0) {
		cli_error("cannot write the XML to stdout");
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static void xml_doc_freep(xmlDocPtr *d)
{
	xmlFreeDoc(*d);
}

/* Parses NAME [--domain FILE]; returns -1 to go on, or an exit code. */
static int parse_args(int argc, char **argv, const char **name, const char **file)
{
	static const struct option opts[] = { { "domain", required_argument, NULL, 'd' },
					      { "help", no_argument, NULL, 'h' },
					      {} };
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c == 'd')
			*file = optarg;
		else if (c == 'h')
			return libvirt_usage(stdout), EXIT_OK;
		else
			return cli_option_error(CMD, c, argv);
	}
	if (optind == argc)
		return cli_usage_error(CMD, "libvirt-xml needs a VM NAME");
	if (optind + 1 < argc)
		return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind + 1]);
	*name = argv[optind];
	return -1;
}

int cmd_vm_libvirt_xml(int argc, char **argv)
{
	_cleanup_(vmt_table_freep) struct vmt_table *t = NULL;
	_cleanup_(xml_doc_freep) xmlDocPtr doc = NULL;
	const char *name = NULL, *file = NULL;
	const struct vmt_vm *vm;
	int r = parse_args(argc, argv, &name, &file);

	if (r >= 0)
		return r;
	if (cli_vm_load(name, &t, &vm))
		return EXIT_FAIL;
	if (file) {
		if ((r = read_domain(file, &doc)) || (r = patch_domain(doc, vm->name, file)))
			return r;
	} else if (!(doc = xmlNewDoc(BAD_CAST "1.0")) || build_snippet(doc, vm->name) < 0) {
		cli_error("out of memory");
		return EXIT_FAIL;
	}
	return print_doc(doc);
}

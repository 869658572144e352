#!/usr/bin/env bats
# vmsvc vm libvirt-xml without a libvirt daemon: the snippet, a domain patched
# with --domain (checked against libvirt's own schema with virt-xml-validate),
# what the patch replaces and keeps, that patching twice changes nothing, and
# the errors. tests/e2e-libvirt.bats boots a patched domain with real libvirt.

load lib/common

QNS=http://libvirt.org/schemas/domain/qemu/1.0

setup() {
	common_setup
	command -v virt-xml-validate >/dev/null || {
		echo "virt-xml-validate missing (libvirt-clients, libxml2-utils: tools/bootstrap)" >&2
		return 1
	}
	"$VMSVC" vm add web >/dev/null
	D=$TEST_ROOT
}

teardown() {
	common_teardown
}

# xml_check EXPR: the Python expression EXPR is true, with r = the root
# element of the XML document in $output, Q = '{QEMU namespace}' and
# args = the values of r's <qemu:arg>s.
xml_check() {
	if ! "$PYTHON" -c '
import sys, xml.etree.ElementTree as ET
r = ET.fromstring(sys.argv[1])
Q = "{'"$QNS"'}"
args = [a.get("value") for a in r.iter(Q + "arg")]
sys.exit(0 if eval(sys.argv[2]) else 1)
' "$output" "$1"; then
		echo "# XML check failed: $1" >&2
		_show_run
		return 1
	fi
}

# A minimal domain as 'virsh dumpxml' would give it, plus what $1 adds
# inside <domain>.
domain() {
	cat <<EOF
<domain type='kvm'>
  <name>web</name>
  <uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>
  <memory unit='KiB'>1048576</memory>
  <vcpu>2</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><source file='/var/lib/web.qcow2'/><target dev='vda' bus='virtio'/></disk>
  </devices>
  $1
</domain>
EOF
}

@test "libvirt-xml --help prints its usage; usage errors exit 2" {
	run_vmsvc vm libvirt-xml --help
	expect 0
	stdout_has "Usage: vmsvc vm libvirt-xml NAME [--domain FILE]"
	run_vmsvc vm --help
	stdout_has "vmsvc vm libvirt-xml NAME [--domain FILE]"
	run_vmsvc vm libvirt-xml
	expect 2
	stderr_has "libvirt-xml needs a VM NAME"
	run_vmsvc vm libvirt-xml web other
	expect 2
	stderr_has "unexpected argument 'other'"
	run_vmsvc vm libvirt-xml web --domain
	expect 2
	run_vmsvc vm libvirt-xml web --json
	expect 2
	stderr_has "'--json'"
	run_vmsvc vm libvirt-xml nosuch
	expect 1
	stderr_has "no VM 'nosuch'; the VMs are: web"
}

@test "the snippet: well-formed XML with the shared memfd and the vsock device on the VM's socket" {
	run_vmsvc vm libvirt-xml web
	expect 0
	stderr_empty
	xml_check "r.tag == 'domain'"
	xml_check "r.find('memoryBacking/source').attrib == {'type': 'memfd'}"
	xml_check "r.find('memoryBacking/access').attrib == {'mode': 'shared'}"
	xml_check "args == ['-chardev', 'socket,id=vmsvc-web,path=$VMSVC_RUNTIME_DIR/vms/web.vhost', '-device', 'vhost-user-vsock-pci,chardev=vmsvc-web']"
	stdout_has "<domain xmlns:qemu=\"$QNS\">"
	stdout_has "virsh edit DOMAIN"
	# The VmId names the VM too.
	id=$("$VMSVC" vm show web --json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
	run_vmsvc vm libvirt-xml "$id"
	expect 0
	stdout_has "path=$VMSVC_RUNTIME_DIR/vms/web.vhost"
}

@test "the snippet escapes for XML and QEMU: a runtime folder with & , < and --" {
	run --separate-stderr "$VMSVC" --runtime-dir "/tmp/a&b,c<d--e" vm libvirt-xml web
	expect 0
	xml_check "args[1] == 'socket,id=vmsvc-web,path=/tmp/a&b,,c<d--e/vms/web.vhost'"
	stdout_has 'path=/tmp/a&amp;b,,c&lt;d--e/vms/web.vhost'
}

@test "--domain adds the pieces to a domain; libvirt's schema accepts it; a second run changes nothing" {
	domain '' >"$D/web.xml"
	virt-xml-validate "$D/web.xml" domain
	run_vmsvc vm libvirt-xml web --domain "$D/web.xml"
	expect 0
	stderr_empty
	printf '%s\n' "$output" >"$D/web-vmsvc.xml"
	virt-xml-validate "$D/web-vmsvc.xml" domain
	xml_check "r.get('type') == 'kvm' and r.find('name').text == 'web'"
	xml_check "r.find('devices/disk/source').get('file') == '/var/lib/web.qcow2'"
	xml_check "[e.tag for e in r][:4] == ['name', 'uuid', 'memory', 'memoryBacking']"
	xml_check "r.find('memoryBacking/source').get('type') == 'memfd' and r.find('memoryBacking/access').get('mode') == 'shared'"
	xml_check "list(r)[-1].tag == Q + 'commandline'"
	xml_check "args == ['-chardev', 'socket,id=vmsvc-web,path=$VMSVC_RUNTIME_DIR/vms/web.vhost', '-device', 'vhost-user-vsock-pci,chardev=vmsvc-web']"
	# Patched again (and through stdin): the same document.
	run --separate-stderr "$VMSVC" vm libvirt-xml web --domain - <"$D/web-vmsvc.xml"
	expect 0
	[ "$output" = "$(cat "$D/web-vmsvc.xml")" ]
}

@test "--domain replaces what the pieces supersede and keeps the rest" {
	domain "<memoryBacking><hugepages/><source type='file'/><access mode='private'/></memoryBacking>
  <cpu><numa><cell id='0' cpus='0-1' memory='1048576' unit='KiB' memAccess='private'/></numa></cpu>
  <qemu:commandline xmlns:qemu='$QNS'>
    <qemu:arg value='-chardev'/><qemu:arg value='socket,id=vmsvc-old,path=/run/old.vhost'/>
    <qemu:arg value='-device'/><qemu:arg value='vhost-user-vsock-pci,chardev=vmsvc-old'/>
    <qemu:arg value='-msg'/><qemu:arg value='timestamp=on'/>
    <qemu:env name='FOO' value='bar'/>
  </qemu:commandline>" | sed "s|</devices>|<vsock model='virtio'><cid auto='yes'/></vsock></devices>|" >"$D/web.xml"
	virt-xml-validate "$D/web.xml" domain
	run_vmsvc vm libvirt-xml web --domain "$D/web.xml"
	expect 0
	stderr_has "removed the domain's <vsock> device"
	stderr_has "NUMA cell memAccess='private' is now 'shared'"
	printf '%s\n' "$output" >"$D/web-vmsvc.xml"
	virt-xml-validate "$D/web-vmsvc.xml" domain
	xml_check "r.find('devices/vsock') is None and r.find('devices/disk') is not None"
	xml_check "r.find('memoryBacking/hugepages') is not None"
	xml_check "[(e.tag, e.attrib) for e in r.find('memoryBacking')][1:] == [('source', {'type': 'memfd'}), ('access', {'mode': 'shared'})]"
	xml_check "r.find('cpu/numa/cell').get('memAccess') == 'shared'"
	xml_check "len(r.findall(Q + 'commandline')) == 1 and r.find(Q + 'commandline/' + Q + 'env').get('name') == 'FOO'"
	xml_check "args == ['-msg', 'timestamp=on', '-chardev', 'socket,id=vmsvc-web,path=$VMSVC_RUNTIME_DIR/vms/web.vhost', '-device', 'vhost-user-vsock-pci,chardev=vmsvc-web']"
}

@test "--domain errors exit 1 and say what is wrong" {
	run_vmsvc vm libvirt-xml web --domain "$D/none.xml"
	expect 1
	stderr_has "cannot read $D/none.xml: No such file or directory"
	printf '<domain>\n  <name>web</name>\n  <devices>\n</domain>\n' >"$D/bad.xml"
	run_vmsvc vm libvirt-xml web --domain "$D/bad.xml"
	expect 1
	stderr_has "vmsvc: $D/bad.xml:4: "
	[ -z "$output" ]
	printf '<network><name>n</name></network>\n' >"$D/net.xml"
	run_vmsvc vm libvirt-xml web --domain "$D/net.xml"
	expect 1
	stderr_has "not a libvirt domain (its root element is <network>, not <domain>)"
	printf '<domain xmlns:qemu="urn:other"><name>web</name></domain>\n' >"$D/ns.xml"
	run_vmsvc vm libvirt-xml web --domain "$D/ns.xml"
	expect 1
	stderr_has "binds the prefix 'qemu' to another namespace"
	run_vmsvc vm libvirt-xml web --domain - </dev/null
	expect 1
	stderr_has "vmsvc: -:"
}

// Excerpts typed by hand in the shapes of public captures (mailing-list posts, debugging
// notes, tool fixtures); values changed. Each is read through the real `open()`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { open } from '../src/index.js';
import { openTexts, assertRows, csv, diagnostics, tempDir } from './helpers.js';

test('bufinfo, 6.x on a desktop GPU: no leading blank line, a `kernel fence:` line, a PCI device, cut before the totals', async () => {
  const text = [
    'Dma-buf Objects:',
    'size    \tflags   \tmode    \tcount   \texp_name\tino     \tname',
    '02097152\t00000002\t02080007\t00000005\tdrm\t00000007\t<none>',
    '\tkernel fence:0:0   signalled',
    '\tAttached Devices:',
    '\t0000:03:00.0',
    'Total 1 devices attached',
    '',
  ].join('\n');
  const session = await openTexts({ 'bufinfo.txt': text });
  assertRows(session, 'SELECT inode, size, exporter, name, file_count FROM dmabuf_observation', ['inode,size,exporter,name,file_count', '7,2097152,drm,,5']);
  assertRows(session, 'SELECT inode, device FROM dmabuf_attachment', ['inode,device', '7,0000:03:00.0']);
  assert.deepEqual(diagnostics(session).map((d) => d.code), ['truncated']);
});

test('bufinfo, 5.x radeon pasted from a mail (tabs expanded, trailing spaces, read fences)', async () => {
  const text = [
    '# cat /sys/kernel/debug/dma_buf/bufinfo',
    '',
    'Dma-buf Objects:',
    'size            flags           mode            count           exp_name        ino     ',
    '03784704        00000000        00080005        00000003        drm     00000121        ',
    '        read fence:radeon radeon.gfx seq 7020 signalled',
    '        read fence:radeon radeon.gfx seq 7016 signalled',
    '        Attached Devices:',
    'Total 0 devices attached',
    '',
    '08355840        00000000        00080005        00000003        drm     00000117        ',
    '        read fence:radeon radeon.gfx seq 6994 signalled',
    '        Attached Devices:',
    'Total 0 devices attached',
    '',
    '',
    'Total 2 objects, 12140544 bytes',
  ].join('\n');
  const session = await openTexts({ 'mail.txt': text });
  assertRows(session, 'SELECT inode, size, exporter, name FROM dmabuf_observation ORDER BY line', [
    'inode,size,exporter,name',
    '121,3784704,drm,',
    '117,8355840,drm,',
  ]);
  assert.deepEqual(diagnostics(session), []);
});

test('bufinfo, 4.x etnaviv as quoted in a patch mail (spaces, Exclusive fence)', async () => {
  const text = [
    'Dma-buf Objects:',
    'size    flags   mode    count   exp_name',
    '08294400        00000000        00000005        00000004        drm',
    '        Exclusive fence: etnaviv 134000.gpu signalled',
    '        Attached Devices:',
    '        gpu-subsystem',
    'Total 1 devices attached',
    '',
    '',
    'Total 1 objects, 8294400 bytes',
    '',
  ].join('\n');
  const session = await openTexts({ 'patch.txt': text });
  assertRows(session, 'SELECT inode, size, exporter, file_count FROM dmabuf_observation', ['inode,size,exporter,file_count', ',8294400,drm,4']);
  assertRows(session, 'SELECT d.size, a.device FROM dmabuf_attachment a JOIN dmabuf d ON d.id = a.dmabuf_id', ['size,device', '8294400,gpu-subsystem']);
});

test('bufinfo, 6.x embedded board (linux,cma exporter, named buffers, accelerator devices)', async () => {
  const text = [
    '',
    'Dma-buf Objects:',
    'size    \tflags   \tmode    \tcount   \texp_name\tino     \tname',
    '00008192\t00000002\t02080007\t00000002\tlinux,cma\t00000021\t<none>',
    '\tAttached Devices:',
    'Total 0 devices attached',
    '',
    '04194304\t00000002\t02080007\t00000002\tvendor,dms\t00000022\tweights',
    '\tAttached Devices:',
    '\t6000000.npu',
    'Total 1 devices attached',
    '',
    '00262144\t00000002\t02080007\t00000002\tlinux,cma\t00000023\tcamera',
    '\tAttached Devices:',
    '\t6100000.isp',
    '\t6000000.npu',
    'Total 2 devices attached',
    '',
    '',
    'Total 3 objects, 4464640 bytes',
    '',
  ].join('\n');
  const session = await openTexts({ 'board.txt': text });
  assertRows(session, 'SELECT device, buffers, bytes, exporters FROM dmabuf_devices', [
    'device,buffers,bytes,exporters',
    '6000000.npu,2,4456448,"vendor,dms,linux,cma"',
    '6100000.isp,1,262144,"linux,cma"',
  ]);
  assert.deepEqual(diagnostics(session), []);
});

test('a debugging note: an abridged fd listing and a fdinfo file without pos/flags lines', async () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'fd.txt'), '3 -> /dev/infiniband/uverbs0\n5 -> /dev/dri/renderD128\n6 -> /dmabuf:\n7 -> socket:[20411]\n');
  fs.mkdirSync(path.join(dir, 'proc/1627/fdinfo'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'proc/1627/fdinfo/6'), 'ino:\t2\nsize:\t1048576\ncount:\t4\nexp_name:\tdrm\n');
  const session = await open(dir);
  assertRows(session, 'SELECT pid, fd, inode, name FROM dmabuf_fd ORDER BY inode IS NULL, fd', ['pid,fd,inode,name', '1627,6,2,', ',6,,']);
  assertRows(session, 'SELECT pid, inode, fd_refs FROM dmabuf_holder', ['pid,inode,fd_refs', '1627,2,1']);
  assert.deepEqual(csv(session, 'SELECT inode, size, exporter, file_count FROM dmabuf'), ['inode,size,exporter,file_count', '2,1048576,drm,4']);
});

test('BPF iterator, first selftest format (one line per buffer)', async () => {
  const text = 'ino:16 size:4096 name:udmabuf_test exp_name:udmabuf\nino:17 size:8192 name: exp_name:system\n';
  const session = await openTexts({ 'bpf.txt': text });
  assert.deepEqual(csv(session, 'SELECT importer FROM source'), ['importer', 'bpf_dmabuf_iter']);
  assertRows(session, 'SELECT inode, size, exporter, name, global_list FROM dmabuf_observation ORDER BY line', [
    'inode,size,exporter,name,global_list',
    '16,4096,udmabuf,udmabuf_test,1',
    '17,8192,system,,1',
  ]);
});

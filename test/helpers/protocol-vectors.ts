// Test vectors of PROTOCOL.md, written out once for every test that checks bytes against them.

/** §3.7, third vector: the acknowledge frame's 120-byte header for the §4.1 payload, as hex. */
export const ACK_HEADER_HEX = [
  '00 00 00 74 61 63 6b 6e 6f 77 6c 65 64 67 65 20',
  '20 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20',
  '20 20 20 20 00 00 00 01 00 00 01 8b cf e5 68 7b',
  '00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 03',
  'a4 56 42 66 14 17 40 00 12 3e 45 67 e8 9b 42 d3',
  '96 08 4e 0c 4c 5d b8 56 03 2d c3 ca 14 68 40 db',
  'c9 e8 6f e9 57 5a 3e 92 a2 ac 86 fe a9 a4 7d d9',
  '00 00 00 00 00 00 00 b0',
]
  .join(' ')
  .replaceAll(' ', '');

using System.Buffers.Binary;

namespace PgBackupTools.Core.Streams;

/// <summary>
/// Cuts a zstd stream into its frames without decompressing anything: it walks each frame's header (magic, frame
/// header descriptor, window descriptor, dictionary id, content size) and its blocks' 3-byte headers (raw, RLE or
/// compressed size, last-block flag), then the optional 4-byte checksum; skippable frames are read past. A frame
/// whose content size is in its header and at most <see cref="MaxFrameContent"/> comes back whole, for a worker to
/// decode on its own; anything else (one big frame written by a streaming compressor, as every backup before
/// independent frames) is <see cref="FrameKind.Unsplittable"/>: the caller streams the rest through a decoder
/// (<see cref="Remainder"/>). Damage that the headers show (a bad magic, a reserved bit or block type, a block
/// larger than zstd allows, input that ends inside a frame) throws <see cref="InvalidDataException"/>; damage inside
/// the compressed data is for the decoder and the content checksum.
/// </summary>
internal sealed class ZstdFrameSplitter
{
    /// <summary>The largest frame content handed out whole (bounds the memory of a frame in flight).</summary>
    public const int MaxFrameContent = 32 << 20;

    private const uint FrameMagic = 0xFD2FB528;
    private const uint SkippableMagicMask = 0xFFFFFFF0;
    private const uint SkippableMagic = 0x184D2A50;
    private const int MaxBlockSize = 128 << 10; // Block_Maximum_Size: no block, raw or compressed, is larger
    private const int MaxHeaderLength = 18;     // magic 4 + descriptor 1 + window 1 + dictionary 4 + content size 8

    private readonly Stream _input;
    private readonly byte[] _buffer = new byte[1 << 20];
    private int _start;
    private int _end;
    private bool _endOfInput;
    private bool _sawData;

    public ZstdFrameSplitter(Stream input) => _input = input;

    public enum FrameKind
    {
        /// <summary>A whole frame is in the destination buffer.</summary>
        Frame,
        /// <summary>The input ended cleanly after the previous frame.</summary>
        End,
        /// <summary>The next frame cannot be split out: read <see cref="Remainder"/> from here on.</summary>
        Unsplittable,
    }

    /// <summary>
    /// Reads the next frame into <paramref name="frame"/> (its buffer grown as needed, at most about
    /// <see cref="MaxFrameContent"/>); skippable frames are passed over.
    /// </summary>
    public ValueTask<FrameKind> NextAsync(ZstdEncodedFrame frame, CancellationToken cancellationToken) => NextAsync(frame, sync: false, cancellationToken);

    /// <summary><see cref="NextAsync(ZstdEncodedFrame, CancellationToken)"/> reading the input synchronously, on the caller's thread.</summary>
    public FrameKind Next(ZstdEncodedFrame frame) => NextAsync(frame, sync: true, CancellationToken.None).GetAwaiter().GetResult();

    // One body for both: with sync, every read is a synchronous Read and the ValueTasks complete before they return.
    private async ValueTask<FrameKind> NextAsync(ZstdEncodedFrame frame, bool sync, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (!await FillAsync(4, sync, cancellationToken).ConfigureAwait(false))
            {
                if (Available == 0)
                {
                    if (!_sawData)
                        throw new InvalidDataException("The compressed input is empty (0 bytes): the file is truncated or was never written.");
                    return FrameKind.End;
                }
                throw Truncated();
            }
            _sawData = true;
            uint magic = BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(_start));
            if ((magic & SkippableMagicMask) == SkippableMagic)
            {
                await SkipFrameAsync(sync, cancellationToken).ConfigureAwait(false);
                continue;
            }
            if (magic != FrameMagic)
                throw new InvalidDataException($"Not a zstd frame: magic 0x{magic:X8} where a frame should begin.");
            return await ReadFrameAsync(frame, sync, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The input from the frame <see cref="Next"/> could not split on (or wherever it stopped).</summary>
    public Stream Remainder() => new RemainderStream(this);

    private int Available => _end - _start;

    private async ValueTask<FrameKind> ReadFrameAsync(ZstdEncodedFrame frame, bool sync, CancellationToken cancellationToken)
    {
        await FillAsync(MaxHeaderLength, sync, cancellationToken).ConfigureAwait(false); // may end early: a small last frame
        if (Available < 6)
            throw Truncated();
        var header = _buffer.AsSpan(_start, Available);
        byte descriptor = header[4];
        int contentSizeFlag = descriptor >> 6;
        bool singleSegment = (descriptor & 0x20) != 0;
        bool hasChecksum = (descriptor & 0x04) != 0;
        int dictionaryFlag = descriptor & 0x03;
        if ((descriptor & 0x08) != 0)
            throw new InvalidDataException("A zstd frame header has its reserved bit set.");
        int contentSizeLength = contentSizeFlag switch { 0 => singleSegment ? 1 : 0, 1 => 2, 2 => 4, _ => 8 };
        int headerLength = 5 + (singleSegment ? 0 : 1) + dictionaryFlag switch { 0 => 0, 1 => 1, 2 => 2, _ => 4 } + contentSizeLength;
        if (Available < headerLength)
            throw Truncated();
        if (contentSizeLength == 0)
            return FrameKind.Unsplittable;
        var field = header.Slice(headerLength - contentSizeLength, contentSizeLength);
        ulong contentSize = contentSizeLength switch
        {
            1 => field[0],
            2 => BinaryPrimitives.ReadUInt16LittleEndian(field) + 256u,
            4 => BinaryPrimitives.ReadUInt32LittleEndian(field),
            _ => BinaryPrimitives.ReadUInt64LittleEndian(field),
        };
        if (contentSize > MaxFrameContent)
            return FrameKind.Unsplittable;

        // No valid frame is larger than its content plus a block header per block and the header and checksum.
        int limit = (int)contentSize + ((int)contentSize / MaxBlockSize + 1) * 3 + MaxHeaderLength + 4;
        if (frame.Compressed.Length < limit)
            frame.Compressed = GC.AllocateUninitializedArray<byte>(limit);
        int length = 0;
        Take(frame, ref length, headerLength);
        while (true)
        {
            if (!await FillAsync(3, sync, cancellationToken).ConfigureAwait(false))
                throw Truncated();
            uint blockHeader = _buffer[_start] | (uint)_buffer[_start + 1] << 8 | (uint)_buffer[_start + 2] << 16;
            bool last = (blockHeader & 1) != 0;
            int type = (int)(blockHeader >> 1) & 3;
            int size = (int)(blockHeader >> 3);
            if (type == 3)
                throw new InvalidDataException("A zstd block has the reserved block type.");
            if (size > MaxBlockSize)
                throw new InvalidDataException($"A zstd block claims {size:N0} bytes, more than zstd allows ({MaxBlockSize:N0}).");
            int stored = type == 1 ? 1 : size; // RLE: one byte repeated size times
            if (length + 3 + stored + (hasChecksum ? 4 : 0) > limit)
                throw new InvalidDataException($"A zstd frame is longer than its content size ({contentSize:N0} bytes) allows.");
            Take(frame, ref length, 3);
            await CopyAsync(frame, length, stored, sync, cancellationToken).ConfigureAwait(false);
            length += stored;
            if (last)
                break;
        }
        if (hasChecksum)
            await CopyAsync(frame, length, 4, sync, cancellationToken).ConfigureAwait(false);
        frame.Length = length + (hasChecksum ? 4 : 0);
        frame.ContentSize = (int)contentSize;
        return FrameKind.Frame;
    }

    /// <summary>Moves <paramref name="count"/> buffered bytes (already there) into the frame (sized to the frame's limit before, which every copy is checked against).</summary>
    private void Take(ZstdEncodedFrame frame, ref int length, int count)
    {
        _buffer.AsSpan(_start, count).CopyTo(frame.Compressed.AsSpan(length));
        _start += count;
        length += count;
    }

    private async ValueTask CopyAsync(ZstdEncodedFrame frame, int at, int count, bool sync, CancellationToken cancellationToken)
    {
        while (count > 0)
        {
            if (Available == 0 && !await FillAsync(1, sync, cancellationToken).ConfigureAwait(false))
                throw Truncated();
            int n = Math.Min(count, Available);
            _buffer.AsSpan(_start, n).CopyTo(frame.Compressed.AsSpan(at));
            _start += n;
            at += n;
            count -= n;
        }
    }

    private async ValueTask SkipFrameAsync(bool sync, CancellationToken cancellationToken)
    {
        if (!await FillAsync(8, sync, cancellationToken).ConfigureAwait(false))
            throw Truncated();
        long skip = BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(_start + 4));
        _start += 8;
        while (skip > 0)
        {
            if (Available == 0 && !await FillAsync(1, sync, cancellationToken).ConfigureAwait(false))
                throw Truncated();
            int n = (int)Math.Min(skip, Available);
            _start += n;
            skip -= n;
        }
    }

    /// <summary>Buffers at least <paramref name="count"/> bytes (at most the buffer's size); false if the input ends first.</summary>
    private async ValueTask<bool> FillAsync(int count, bool sync, CancellationToken cancellationToken)
    {
        if (Available >= count)
            return true;
        if (_start > 0)
        {
            _buffer.AsSpan(_start, Available).CopyTo(_buffer);
            _end = Available;
            _start = 0;
        }
        while (_end < count && !_endOfInput)
        {
            int n = sync ? _input.Read(_buffer.AsSpan(_end)) : await _input.ReadAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
            if (n == 0)
                _endOfInput = true;
            _end += n;
        }
        return Available >= count;
    }

    private static InvalidDataException Truncated() => new("The zstd stream ends inside a frame: the file is truncated.");

    private sealed class RemainderStream(ZstdFrameSplitter splitter) : ForwardOnlyReadStream
    {
        public override bool CanRead => true;

        public override int Read(Span<byte> buffer)
        {
            if (splitter.Available > 0)
                return Buffered(buffer.Length, buffer);
            return splitter._input.Read(buffer);
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (splitter.Available > 0)
                return Buffered(buffer.Length, buffer.Span);
            return await splitter._input.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }

        private int Buffered(int requested, Span<byte> buffer)
        {
            int n = Math.Min(requested, splitter.Available);
            splitter._buffer.AsSpan(splitter._start, n).CopyTo(buffer);
            splitter._start += n;
            return n;
        }
    }
}

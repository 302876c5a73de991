using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Streams;

namespace PgBackupTools.Core.Wal;

/// <summary>
/// The zstd body of a WAL object for a file of at most a few segments, made for archive_command's critical path:
/// the file is cut into <see cref="FrameSize"/> pieces, each compressed one-shot (libzstd, single-threaded, straight
/// from the buffer into its own output: no copy into job buffers) into an independent frame with its content
/// checksum, on all cores, while one more task hashes the pieces in order. The file is read once, piece by piece,
/// and each piece is compressed and hashed as soon as it is read, so the same bytes are hashed and compressed.
/// Concatenated frames are one valid zstd stream (<c>zstd -d</c> and <see cref="Compression.CreateDecompressor"/>
/// read them all), so the object format is unchanged.
/// </summary>
internal static class WalZstdFrames
{
    /// <summary>4 MiB: a 16 MiB segment is four frames, two a core; each is far larger than zstd's window at the low levels used for WAL.</summary>
    public const int FrameSize = 4 << 20;

    /// <summary>The libzstd to compress with at <paramref name="level"/>; null when there is none (ZstdSharp then streams as before) or the level is out of range.</summary>
    public static NativeZstd? EngineFor(int level) =>
        level >= ZstdCompressor.MinLevel && level <= ZstdCompressor.MaxLevel ? NativeZstd.Default : null;

    /// <summary>
    /// Reads <paramref name="length"/> bytes of <paramref name="file"/> from offset 0, compressing and hashing as it goes.
    /// Dispose the returned buffer (the file's bytes) once the frames are written. A file shorter than <paramref name="length"/>
    /// (it shrank while being read) throws <see cref="PgBackupException"/> (InvalidData).
    /// </summary>
    public static async Task<(byte[] Digest, ReadOnlyMemory<byte>[] Frames, IDisposable Buffer)> CompressFileAsync(NativeZstd zstd, SafeFileHandle file, string path,
        int length, int level, Func<IncrementalHash> newDigest, CancellationToken ct)
    {
        int count = Math.Max(1, (length + FrameSize - 1) / FrameSize);
        using var codec = ZstdFrameCodec.Create(level, zstd);
        // The segment in huge pages (every byte of it is written); each frame's output in ordinary memory, uninitialized,
        // so only the pages a frame fills are ever touched (a frame of a switched segment's zeros is a few hundred bytes).
        var buffer = new HugePageBuffer(length);
        try
        {
            var memory = buffer.Memory;
            var read = new TaskCompletionSource[count];
            for (int i = 0; i < count; i++) read[i] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            // On a thread of its own (the longest chain: SHA-256 is sequential), never queued behind the compressions
            // or this reader on a small thread pool; creating the first digest also loads the crypto library.
            var hashing = Task.Factory.StartNew(() => HashInOrder(memory[..length], count, read, newDigest), CancellationToken.None,
                TaskCreationOptions.LongRunning, TaskScheduler.Default);
            var frames = new Task<ReadOnlyMemory<byte>>[count];
            int started = 0;
            try
            {
                for (int i = 0; i < count; i++)
                {
                    ct.ThrowIfCancellationRequested();
                    int offset = i * FrameSize, size = Math.Min(FrameSize, length - offset);
                    var piece = memory.Slice(offset, size);
                    ReadExactly(file, piece.Span, offset, path);
                    read[i].SetResult();
                    frames[i] = Task.Run(() => Compress(codec, piece.Span), ct);
                    started++;
                }
            }
            catch (Exception e)
            {
                for (int i = started; i < count; i++) read[i].TrySetException(e); // the hashing task ends instead of waiting forever
                // Nothing may still be reading or writing the buffer when it is freed.
                await Task.WhenAll(frames.Take(started).Cast<Task>().Append(hashing)).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
                throw;
            }
            Task[] all = [.. frames, hashing];
            await Task.WhenAll(all).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false); // all done before the buffer can be freed
            var compressed = await Task.WhenAll(frames).ConfigureAwait(false);
            return (await hashing.ConfigureAwait(false), compressed, buffer);
        }
        catch
        {
            ((IDisposable)buffer).Dispose();
            throw;
        }
    }

    /// <summary>The same frames for bytes already in memory (the WAL stream's segments and partials).</summary>
    public static async Task<(byte[] Digest, ReadOnlyMemory<byte>[] Frames)> CompressAsync(NativeZstd zstd, ReadOnlyMemory<byte> raw, int level,
        Func<IncrementalHash> newDigest, CancellationToken ct)
    {
        var hashing = Task.Run(() =>
        {
            using var digest = newDigest();
            digest.AppendData(raw.Span);
            return digest.GetHashAndReset();
        }, ct);
        int count = Math.Max(1, (raw.Length + FrameSize - 1) / FrameSize);
        using var codec = ZstdFrameCodec.Create(level, zstd);
        var frames = new Task<ReadOnlyMemory<byte>>[count];
        for (int i = 0; i < count; i++)
        {
            int offset = i * FrameSize, size = Math.Min(FrameSize, raw.Length - offset);
            frames[i] = Task.Run(() => Compress(codec, raw.Span.Slice(offset, size)), ct);
        }
        ReadOnlyMemory<byte>[] compressed;
        try
        {
            compressed = await Task.WhenAll(frames).ConfigureAwait(false);
        }
        finally
        {
            await hashing.ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
        }
        return (await hashing.ConfigureAwait(false), compressed);
    }

    private static byte[] HashInOrder(ReadOnlyMemory<byte> raw, int count, TaskCompletionSource[] read, Func<IncrementalHash> newDigest)
    {
        using var digest = newDigest();
        for (int i = 0; i < count; i++)
        {
            read[i].Task.GetAwaiter().GetResult(); // a dedicated thread: waiting blocks nothing else
            int offset = i * FrameSize;
            digest.AppendData(raw.Span.Slice(offset, Math.Min(FrameSize, raw.Length - offset)));
        }
        return digest.GetHashAndReset();
    }

    private static void ReadExactly(SafeFileHandle file, Span<byte> buffer, long offset, string path)
    {
        while (!buffer.IsEmpty)
        {
            int n = RandomAccess.Read(file, buffer, offset);
            if (n == 0)
                throw new PgBackupException(FailureKind.InvalidData, $"'{path}' became shorter while it was being archived; nothing was stored. PostgreSQL will retry.", path);
            buffer = buffer[n..];
            offset += n;
        }
    }

    // Each frame's output in ordinary memory, uninitialized: only the pages a frame fills are ever touched (a frame of a
    // switched segment's zeros is a few hundred bytes).
    private static ReadOnlyMemory<byte> Compress(ZstdFrameCodec codec, ReadOnlySpan<byte> piece)
    {
        var output = GC.AllocateUninitializedArray<byte>(ZstdFrameCodec.CompressBound(piece.Length));
        return output.AsMemory(0, codec.Compress(piece, output));
    }
}

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
/// into a few reused buffers (as pgBackRest reads it), and each piece is compressed and hashed as soon as it is read,
/// so the same bytes are hashed and compressed. Concatenated frames are one valid zstd stream (<c>zstd -d</c> and
/// <see cref="Compression.CreateDecompressor"/> read them all), so the object format is unchanged.
/// </summary>
internal static class WalZstdFrames
{
    /// <summary>
    /// 1 MiB: a 16 MiB segment is sixteen frames, enough to keep both cores busy. Each is still twice zstd's window at
    /// the low levels used for WAL, so real WAL compresses within 0.03% of 4 MiB frames.
    /// </summary>
    public const int FrameSize = 1 << 20;

    /// <summary>
    /// The pieces read but not yet both hashed and compressed. A push runs in a new process, and every fresh page it
    /// touches costs a fault and the kernel's zeroing of it: reading a whole 16 MiB segment into new memory cost 1-3 ms
    /// of CPU a push in zeroing alone (1 ms with transparent huge pages, 3 ms when they fall back to 4 KiB pages). Four reused 1 MiB buffers touch a quarter of that and let the reader stay
    /// ahead of the hashing and of the compression on two cores.
    /// </summary>
    public const int PiecesInFlight = 4;

    /// <summary>The libzstd to compress with at <paramref name="level"/>; null when there is none (ZstdSharp then streams as before) or the level is out of range.</summary>
    public static NativeZstd? EngineFor(int level) =>
        level >= ZstdCompressor.MinLevel && level <= ZstdCompressor.MaxLevel ? NativeZstd.Default : null;

    /// <summary>
    /// Reads <paramref name="length"/> bytes of <paramref name="file"/> from offset 0, compressing and hashing as it goes.
    /// Call it on a thread of its own: its reads and its waits for a free buffer are synchronous. When it returns (or
    /// throws), nothing reads the file or its buffers any more. A file shorter than <paramref name="length"/> (it
    /// shrank while being read) throws <see cref="PgBackupException"/> (InvalidData).
    /// </summary>
    public static async Task<(byte[] Digest, ReadOnlyMemory<byte>[] Frames)> CompressFileAsync(NativeZstd zstd, SafeFileHandle file, string path,
        int length, int level, Func<IncrementalHash> newDigest, CancellationToken ct)
    {
        int count = Math.Max(1, (length + FrameSize - 1) / FrameSize);
        int slots = Math.Min(count, PiecesInFlight);
        using var codec = ZstdFrameCodec.Create(level, zstd);
        // Every byte of the buffers is written before it is read. Each buffer's frame is made in a scratch output of its
        // own, uninitialized, then copied out at its size: only the pages a frame fills are ever touched, and the
        // frames kept for the write weigh what they compressed to (a frame of a switched segment's zeros is a few
        // dozen bytes), not 16 MiB of worst-case outputs that would make the GC collect in the middle of the push.
        using var buffers = new HugePageBuffer(slots * FrameSize);
        var memory = buffers.Memory;
        var scratch = new byte[slots][];
        for (int s = 0; s < slots; s++) scratch[s] = GC.AllocateUninitializedArray<byte>(ZstdFrameCodec.CompressBound(Math.Min(FrameSize, length)));
        // A buffer is free again once its piece is both hashed and compressed (two users); the reader waits for it.
        var free = new SemaphoreSlim[slots];
        for (int s = 0; s < slots; s++) free[s] = new SemaphoreSlim(1, 1);
        var users = new int[count];
        void Done(int piece)
        {
            if (Interlocked.Decrement(ref users[piece]) == 0) free[piece % slots].Release();
        }
        // A failed hash or compression frees no more buffers: the reader then stops waiting for one.
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var read = new TaskCompletionSource<ReadOnlyMemory<byte>>[count];
        for (int i = 0; i < count; i++) read[i] = new TaskCompletionSource<ReadOnlyMemory<byte>>(TaskCreationOptions.RunContinuationsAsynchronously);
        // On a thread of its own (the longest chain: SHA-256 is sequential), never queued behind the compressions
        // or this reader on a small thread pool; creating the first digest also loads the crypto library.
        var hashing = Task.Factory.StartNew(() => HashInOrder(read, newDigest, Done, failed), CancellationToken.None,
            TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var frames = new Task<ReadOnlyMemory<byte>>[count];
        int started = 0;
        try
        {
            for (int i = 0; i < count; i++)
            {
                int offset = i * FrameSize, size = Math.Min(FrameSize, length - offset);
                free[i % slots].Wait(failed.Token);
                var piece = memory.Slice(i % slots * FrameSize, size);
                users[i] = 2;
                int index = i;
                try
                {
                    ReadExactly(file, piece.Span, offset, path);
                }
                catch
                {
                    users[i] = 0;
                    throw;
                }
                frames[i] = Task.Run(() =>
                {
                    try
                    {
                        return CompressAndCopy(codec, piece.Span, scratch[index % slots]);
                    }
                    catch
                    {
                        failed.Cancel();
                        throw;
                    }
                    finally
                    {
                        Done(index);
                    }
                }, CancellationToken.None);
                started++;
                read[i].SetResult(piece);
            }
        }
        catch (Exception e)
        {
            for (int i = started; i < count; i++) read[i].TrySetException(e); // the hashing task ends instead of waiting forever
            // Nothing may still be reading or writing the buffers when they are freed.
            await Task.WhenAll(frames.Take(started).Cast<Task>().Append(hashing)).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
            // The reader stopped because a hash or a compression failed: that failure is the one to report.
            if (e is OperationCanceledException && !ct.IsCancellationRequested
                && frames.Take(started).Cast<Task>().Append(hashing).FirstOrDefault(t => t.IsFaulted) is { } cause)
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(cause.Exception!.InnerException!);
            throw;
        }
        Task[] all = [.. frames, hashing];
        await Task.WhenAll(all).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false); // all done before the buffers can be freed
        var compressed = await Task.WhenAll(frames).ConfigureAwait(false);
        return (await hashing.ConfigureAwait(false), compressed);
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

    private static byte[] HashInOrder(TaskCompletionSource<ReadOnlyMemory<byte>>[] read, Func<IncrementalHash> newDigest, Action<int> done, CancellationTokenSource failed)
    {
        try
        {
            using var digest = newDigest();
            for (int i = 0; i < read.Length; i++)
            {
                var piece = read[i].Task.GetAwaiter().GetResult(); // a dedicated thread: waiting blocks nothing else
                try
                {
                    digest.AppendData(piece.Span);
                }
                finally
                {
                    done(i);
                }
            }
            return digest.GetHashAndReset();
        }
        catch
        {
            failed.Cancel();
            throw;
        }
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

    private static ReadOnlyMemory<byte> CompressAndCopy(ZstdFrameCodec codec, ReadOnlySpan<byte> piece, byte[] scratch)
    {
        int length = codec.Compress(piece, scratch);
        var frame = GC.AllocateUninitializedArray<byte>(length);
        scratch.AsSpan(0, length).CopyTo(frame);
        return frame;
    }

    // Each frame's output in ordinary memory, uninitialized: only the pages a frame fills are ever touched (a frame of a
    // switched segment's zeros is a few hundred bytes).
    private static ReadOnlyMemory<byte> Compress(ZstdFrameCodec codec, ReadOnlySpan<byte> piece)
    {
        var output = GC.AllocateUninitializedArray<byte>(ZstdFrameCodec.CompressBound(piece.Length));
        return output.AsMemory(0, codec.Compress(piece, output));
    }
}

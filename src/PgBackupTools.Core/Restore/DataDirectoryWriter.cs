using System.Security.Cryptography;
using PgBackupTools.Core.Storage;
using PgBackupTools.Core.Streams;

namespace PgBackupTools.Core.Restore;

/// <summary>
/// Writes the files of a restored data directory on worker threads while the tar is read on the caller's: each file
/// goes whole to the least busy writer (two writers on one file would only contend for its inode lock), which creates
/// it with its mode, writes it in pieces, fsyncs and closes it. The pieces are page-aligned and a file's are at
/// multiples of <see cref="PieceSize"/>, so a file whose size is a multiple of a page (every relation file) is written
/// past the page cache (<see cref="DirectFile"/>). With checksums, a thread of its own hashes every
/// file's pieces in order for the backup_manifest check. <see cref="Complete"/> waits for all of it and
/// then fsyncs the directories, so a restored directory that reports success survives a crash of the machine.
/// Memory is bounded by the pieces in flight (<see cref="PiecesInFlight"/> x <see cref="PieceSize"/>).
/// </summary>
internal sealed class DataDirectoryWriter : IDisposable
{
    public const int PieceSize = 1 << 20;
    public const int PiecesInFlight = 16;

    private readonly RestoredFileChecksums? _checksums;
    private readonly HugePageBuffer _memory = new(PiecesInFlight * PieceSize);
    private readonly WaitingQueue<Memory<byte>> _free = new();
    private readonly WaitingQueue<Piece>[] _writers;
    private readonly WaitingQueue<Piece>? _hashes;
    private readonly HashSet<string> _directories = new(StringComparer.Ordinal);
    private readonly List<Thread> _threads = [];
    private readonly CancellationTokenSource _failed;
    private Exception? _failure;
    private bool _completed;
    private volatile bool _direct = true; // until the file system refuses it

    /// <param name="checksums">Where each file's SHA-256 goes; null: the files are not hashed (the whole tar's hash is checked instead).</param>
    /// <param name="writers">Threads that write; 0: one per core (at most 4: the disk, not the CPU, limits beyond).</param>
    public DataDirectoryWriter(RestoredFileChecksums? checksums, CancellationToken cancellationToken, int writers = 0)
    {
        _checksums = checksums;
        _failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        for (int i = 0; i < PiecesInFlight; i++) _free.Add(_memory.Memory.Slice(i * PieceSize, PieceSize));
        if (writers == 0) writers = Math.Clamp(Environment.ProcessorCount, 1, 4);
        _writers = new WaitingQueue<Piece>[writers];
        for (int i = 0; i < writers; i++)
        {
            var queue = _writers[i] = new WaitingQueue<Piece>();
            Start(() => WriteLoop(queue), $"pgbt restore writer {i + 1}");
        }
        if (checksums is not null)
        {
            _hashes = new WaitingQueue<Piece>();
            Start(HashLoop, "pgbt restore hasher");
        }
    }

    /// <summary>Creates a directory with <paramref name="mode"/> (or sets it on one that exists), and remembers it for the final fsync.</summary>
    public void CreateDirectory(string path, UnixFileMode mode)
    {
        if (!_directories.Add(path)) return;
        if (OperatingSystem.IsWindows()) { Directory.CreateDirectory(path); return; }
        if (Directory.Exists(path)) File.SetUnixFileMode(path, mode);
        else Directory.CreateDirectory(path, mode);
    }

    /// <summary>
    /// Reads <paramref name="length"/> bytes of a file from <paramref name="content"/> into pieces and hands them to
    /// the writers; returns once the last piece is handed over, not written (<see cref="Complete"/> waits for that).
    /// </summary>
    /// <param name="name">The file's name in the backup_manifest.</param>
    public void WriteFile(string path, string name, UnixFileMode mode, Stream? content, long length)
    {
        string directory = Path.GetDirectoryName(path)!;
        if (!_directories.Contains(directory)) CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        long pieces = Math.Max(1, (length + PieceSize - 1) / PieceSize);
        var file = new RestoredFile(path, name, mode, length);
        var writer = _writers.MinBy(w => w.Count)!;
        long offset = 0;
        for (long i = 0; i < pieces; i++)
        {
            var buffer = Rent();
            int count = (int)Math.Min(PieceSize, length - offset);
            try
            {
                if (count > 0) content!.ReadExactly(buffer.Span[..count]);
            }
            catch (EndOfStreamException e)
            {
                throw new EndOfStreamException($"The backup's tar ends inside {path}.", e);
            }
            var piece = new Piece(file, buffer, offset, count, _hashes is null ? 1 : 2);
            offset += count;
            writer.Add(piece);
            _hashes?.Add(piece);
        }
    }

    /// <summary>Waits until every file is written, hashed, fsynced and closed, then fsyncs the directories. Throws the first failure.</summary>
    public void Complete()
    {
        foreach (var writer in _writers) writer.CompleteAdding();
        _hashes?.CompleteAdding();
        foreach (var thread in _threads) thread.Join();
        _completed = true;
        ThrowIfFailed();
        _failed.Token.ThrowIfCancellationRequested();
        foreach (string directory in _directories) FileSync.SyncDirectory(directory);
        // The data directory's own entry: PrepareDirectory may just have created or moved it.
        foreach (string root in _directories.Select(Path.GetDirectoryName).OfType<string>().Where(d => !_directories.Contains(d)).Distinct())
            FileSync.SyncDirectory(root);
    }

    public void Dispose()
    {
        if (!_completed)
        {
            _failed.Cancel();
            foreach (var writer in _writers) writer.CompleteAdding();
            _hashes?.CompleteAdding();
            foreach (var thread in _threads) thread.Join();
        }
        _failed.Dispose();
        ((IDisposable)_memory).Dispose();
    }

    private void Start(Action loop, string name)
    {
        var thread = new Thread(() =>
        {
            try { loop(); }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _failure, e, null);
                _failed.Cancel();
            }
        }) { IsBackground = true, Name = name };
        thread.Start();
        _threads.Add(thread);
    }

    private Memory<byte> Rent()
    {
        try
        {
            if (!_free.TryTake(out var buffer, _failed.Token)) throw new InvalidOperationException("The writers were disposed.");
            return buffer;
        }
        catch (OperationCanceledException) { ThrowIfFailed(); throw; }
    }

    private void ThrowIfFailed()
    {
        if (_failure is { } failure) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
    }

    private void WriteLoop(WaitingQueue<Piece> queue)
    {
        // A file's pieces reach its writer one after another, so a writer has one file open at a time.
        DirectFile? open = null;
        try
        {
            foreach (var piece in queue.TakeAll())
            {
                try
                {
                    if (_failed.IsCancellationRequested) continue;
                    var file = piece.File;
                    if (piece.Offset == 0) open = Create(file);
                    if (piece.Count > 0) open!.Write(piece.Buffer.Span[..piece.Count], piece.Offset);
                    if (piece.Offset + piece.Count == file.Length)
                    {
                        open!.Sync();
                        open.Dispose();
                        open = null;
                    }
                }
                finally
                {
                    Release(piece);
                }
            }
        }
        finally
        {
            open?.Dispose(); // a failure or a cancel left a file half written
        }
    }

    private void HashLoop()
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var piece in _hashes!.TakeAll())
        {
            try
            {
                if (_failed.IsCancellationRequested) continue;
                hash.AppendData(piece.Buffer.Span[..piece.Count]);
                if (piece.Offset + piece.Count == piece.File.Length)
                    _checksums!.Add(piece.File.Name, piece.File.Length, hash.GetHashAndReset());
            }
            finally
            {
                Release(piece);
            }
        }
    }

    private DirectFile Create(RestoredFile file)
    {
        bool direct = _direct && file.Length >= DirectFile.Alignment && file.Length % DirectFile.Alignment == 0;
        var created = DirectFile.Create(file.Path, file.Mode, direct);
        if (direct && !created.IsDirect) _direct = false;
        return created;
    }

    private void Release(Piece piece)
    {
        if (Interlocked.Decrement(ref piece.Users) == 0) _free.Add(piece.Buffer);
    }

    private sealed class RestoredFile(string path, string name, UnixFileMode mode, long length)
    {
        public string Path { get; } = path;
        public string Name { get; } = name;
        public UnixFileMode Mode { get; } = mode;
        public long Length { get; } = length;
    }

    private sealed class Piece(RestoredFile file, Memory<byte> buffer, long offset, int count, int users)
    {
        public RestoredFile File { get; } = file;
        public Memory<byte> Buffer { get; } = buffer;
        public long Offset { get; } = offset;
        public int Count { get; } = count;
        public int Users = users;
    }
}

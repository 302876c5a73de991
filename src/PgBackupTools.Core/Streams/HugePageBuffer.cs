using System.Buffers;
using System.Runtime.InteropServices;

namespace PgBackupTools.Core.Streams;

/// <summary>
/// Native memory, aligned to 2 MiB (so also to a page, as O_DIRECT needs), for a short-lived process's working buffers
/// (a WAL push's reads, a restore's pieces), asking Linux for transparent huge pages
/// (MADV_HUGEPAGE; <c>madvise</c> is this machine's and Debian's default THP mode). A fresh 4 KiB page costs a fault
/// and a memory-cgroup charge on first touch: 4 MiB of buffers are 2 faults of 2 MiB here against 1024. Where huge
/// pages are off or unavailable the advice is ignored and the buffer works as ordinary memory.
/// </summary>
internal sealed unsafe class HugePageBuffer : MemoryManager<byte>
{
    private const nuint HugePage = 2 << 20;
    private const int MadvHugePage = 14; // Linux only (the value means something else elsewhere)
    private byte* _pointer;
    private readonly int _length;

    public HugePageBuffer(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        nuint size = ((nuint)Math.Max(length, 1) + HugePage - 1) & ~(HugePage - 1);
        _pointer = (byte*)NativeMemory.AlignedAlloc(size, HugePage);
        _length = length;
        if (OperatingSystem.IsLinux()) _ = madvise(_pointer, size, MadvHugePage);
    }

    public override Span<byte> GetSpan()
    {
        ObjectDisposedException.ThrowIf(_pointer is null, this);
        return new Span<byte>(_pointer, _length);
    }

    public override MemoryHandle Pin(int elementIndex = 0)
    {
        ObjectDisposedException.ThrowIf(_pointer is null, this);
        return new MemoryHandle(_pointer + elementIndex);
    }

    public override void Unpin()
    {
    }

    protected override void Dispose(bool disposing)
    {
        if (_pointer is null) return;
        NativeMemory.AlignedFree(_pointer);
        _pointer = null;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int madvise(void* address, nuint length, int advice);
}

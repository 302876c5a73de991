namespace PgBackupTools.Core.Tests.Streams;

internal static class Bytes
{
    /// <summary>Equal bytes, with a short message (length, first difference) instead of dumping megabytes.</summary>
    public static void AssertSame(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> actual)
    {
        if (expected.SequenceEqual(actual))
            return;
        int common = Math.Min(expected.Length, actual.Length);
        int first = expected[..common].CommonPrefixLength(actual[..common]);
        Assert.Fail($"bytes differ: expected {expected.Length} bytes, got {actual.Length}; first difference at offset {first}");
    }
}

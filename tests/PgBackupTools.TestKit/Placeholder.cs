namespace PgBackupTools.TestKit; internal static class Placeholder {}

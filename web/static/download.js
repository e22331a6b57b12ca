// Save the recovery codes shown once as a text file, without sending them anywhere.
document.getElementById("download-codes").addEventListener("click", () => {
  const text = document.getElementById("codes").textContent;
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
  link.download = "flero-recovery-codes.txt";
  link.click();
  URL.revokeObjectURL(link.href);
});

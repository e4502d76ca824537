// Photos for a report, a progress note or a 办结: taken with the camera or picked, shown as thumbnails that can be
// removed, kept as they are (their EXIF capture time and GPS are what 核查 reads; intake strips them from what it
// serves). They are queued on the device with the write that names them and uploaded one by one.

import { h, replace } from "../../dom";

const ACCEPT = "image/jpeg,image/png,image/webp";
const MAX_BYTES = 10 * 1024 * 1024; // intake's default cap (INTAKE_ATTACHMENTS_MAX_BYTES)
const MAX_PHOTOS = 6;

export interface PhotoPicker {
  element: HTMLElement;
  files(): File[];
  clear(): void;
}

export function photoPicker(id: string, label = "现场照片"): PhotoPicker {
  const chosen: File[] = [];
  const urls: string[] = [];
  const input = h("input", {
    id,
    type: "file",
    accept: ACCEPT,
    multiple: true,
    capture: "environment",
    class: "w-file",
    "aria-describedby": `${id}-hint`,
  });
  const list = h("ul", { class: "w-photos", "aria-label": `已选${label}` });
  const problem = h("p", { class: "error", role: "alert" });
  const draw = () => {
    urls.splice(0).forEach((url) => URL.revokeObjectURL(url));
    replace(
      list,
      ...chosen.map((file, n) => {
        const url = URL.createObjectURL(file);
        urls.push(url);
        return h(
          "li",
          { class: "w-photo" },
          h("img", { src: url, alt: `${label} ${n + 1}：${file.name}` }),
          h(
            "button",
            {
              type: "button",
              class: "linkish",
              "aria-label": `移除${label} ${n + 1}`,
              onclick: () => {
                chosen.splice(n, 1);
                draw();
              },
            },
            "移除",
          ),
        );
      }),
    );
    list.dataset.count = String(chosen.length);
  };
  input.addEventListener("change", () => {
    replace(problem);
    for (const file of Array.from(input.files ?? [])) {
      if (chosen.length >= MAX_PHOTOS) {
        replace(problem, `最多 ${MAX_PHOTOS} 张照片`);
        break;
      }
      if (file.size > MAX_BYTES) {
        replace(problem, `${file.name} 超过 10 MB，未加入`);
        continue;
      }
      chosen.push(file);
    }
    input.value = "";
    draw();
  });
  // The file input is hidden behind its label, which looks like a button (the browser's own "Choose Files" is
  // neither Chinese nor a thumb's size); it keeps the focus, shown on the button.
  const element = h(
    "div",
    { class: "field w-photo-field" },
    input,
    h(
      "label",
      { for: id, class: "w-photo-label" },
      h("span", {}, `${label}（可选）`),
      h("span", { class: "button secondary w-photo-button", "aria-hidden": "true" }, "＋ 拍照或选择照片"),
    ),
    h("p", { class: "hint", id: `${id}-hint` }, `拍照或从相册选择，JPEG/PNG/WebP，每张不超过 10 MB，最多 ${MAX_PHOTOS} 张。`),
    list,
    problem,
  );
  return {
    element,
    files: () => [...chosen],
    clear: () => {
      chosen.splice(0);
      draw();
    },
  };
}
